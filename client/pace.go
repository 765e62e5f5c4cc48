package client

import (
	"sync"
	"time"
)

// pacer spaces out messages to stay within a hub's token bucket of rate
// messages a second and burst at once (a generic cell rate algorithm). It
// uses only half the burst, leaving the rest for messages that the network
// bunches together on their way.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration // between messages, at the sustained rate
	slack    time.Duration // how far ahead of time a message may go
	next     time.Time     // theoretical arrival time of the next message
}

func newPacer(rate, burst int) *pacer {
	if rate <= 0 {
		return nil
	}
	interval := time.Second / time.Duration(rate)
	return &pacer{interval: interval, slack: interval * time.Duration(max(burst/2-1, 0))}
}

// delay reserves the next slot and returns how long to wait for it.
func (p *pacer) delay() time.Duration {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	d := p.next.Sub(now) - p.slack
	p.next = p.next.Add(p.interval)
	return max(d, 0)
}
