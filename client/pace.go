package client

import "golang.org/x/time/rate"

// newPace returns the limiter that spaces out a client's chat, nick and
// who messages to stay within the hub's token bucket of rate messages a
// second and burst at once. It uses only half the burst, leaving the rest
// for messages that the network bunches together on their way. If the
// hub announced no rate, it never makes a message wait.
func newPace(perSecond, burst int) *rate.Limiter {
	if perSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(burst/2, 1))
}
