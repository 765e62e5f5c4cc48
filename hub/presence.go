package hub

import (
	"sync"
	"time"
)

// A key holder who connects and leaves again and again would draw a
// "joined" and a "left" line on every screen each time. Each source
// address has an allowance of presence announcements (a token bucket of
// Config.PresenceBurst, refilled at PresencePerMinute): a client that
// joins beyond it is not announced, and neither is its leaving, so that
// screens never show a leave without its join. It is still listed by
// who, and its chat shows its name.

// presenceLimit holds each source's allowance. It is safe for concurrent
// use.
type presenceLimit struct {
	mu      sync.Mutex
	rate    float64 // tokens a second
	burst   float64
	buckets map[source]*bucket
}

// maxPresenceSources bounds the sources whose allowance is remembered:
// beyond it, full buckets (sources that have been quiet) are forgotten,
// and if none is, a new source is not announced until some are.
const maxPresenceSources = 4096

func newPresenceLimit(perMinute, burst int) *presenceLimit {
	return &presenceLimit{rate: float64(perMinute) / 60, burst: float64(burst), buckets: map[source]*bucket{}}
}

// allow reports whether a client from s that joins now is announced.
func (l *presenceLimit) allow(s source, now time.Time) bool {
	if !s.p.IsValid() {
		return true // not an IP connection: a test's pipe
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[s]
	if b == nil {
		if len(l.buckets) >= maxPresenceSources {
			l.forgetQuiet(now)
			if len(l.buckets) >= maxPresenceSources {
				return false
			}
		}
		b = &bucket{rate: l.rate, burst: l.burst, tokens: l.burst, last: now}
		l.buckets[s] = b
	}
	return b.take(1, now)
}

// forgetQuiet drops the sources whose bucket has filled up again: they
// would start afresh anyway.
func (l *presenceLimit) forgetQuiet(now time.Time) {
	for s, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst {
			delete(l.buckets, s)
		}
	}
}
