package mux

// WindowFor is windowFor, for the tests of package mux_test.
var WindowFor = windowFor

// TCPPair is tcpPair, for the tests of package mux_test.
var TCPPair = tcpPair

// NewTestBudget is a StreamBudget of limit streams, for the tests of
// package mux_test.
func NewTestBudget(limit int) *countingBudget { return &countingBudget{limit: limit} }

// Holding is how many streams the budget counts now.
func (b *countingBudget) Holding() int { return b.holding() }

// Top is the most streams the budget counted at once.
func (b *countingBudget) Top() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.top
}
