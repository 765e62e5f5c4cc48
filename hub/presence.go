package hub

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
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
	rate    rate.Limit // announcements a second
	burst   int
	buckets map[source]*rate.Limiter
}

// maxPresenceSources bounds the sources whose allowance is remembered:
// beyond it, full buckets (sources that have been quiet) are forgotten,
// and if none is, a new source is not announced until some are.
const maxPresenceSources = 4096

func newPresenceLimit(perMinute, burst int) *presenceLimit {
	return &presenceLimit{rate: rate.Limit(perMinute) / 60, burst: burst, buckets: map[source]*rate.Limiter{}}
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
		b = rate.NewLimiter(l.rate, l.burst)
		l.buckets[s] = b
	}
	return b.AllowN(now, 1)
}

// forgetQuiet drops the sources whose bucket has filled up again: they
// would start afresh anyway.
func (l *presenceLimit) forgetQuiet(now time.Time) {
	for s, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, s)
		}
	}
}
