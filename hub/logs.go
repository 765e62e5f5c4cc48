package hub

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/muxfer/muxfer/protocol"
	"golang.org/x/time/rate"
)

// A client chooses much of what the hub logs about it: names, paths,
// reasons. Every string value in a log line about a client is clipped to
// maxLogText bytes (the handler escapes what it holds: slog's text handler
// quotes and escapes control and format characters), and each client's
// lines go through a token bucket of their own, so that no client can
// fill the log: 20 offers with a 1 MiB recipient name once added 20 MiB
// to it.
const (
	maxLogText        = 160
	logLinesPerClient = 10 // a second, on average
	logBurstPerClient = 50
)

// clipArgs returns slog key-value pairs with every string value clipped
// to maxLogText bytes, and error values turned into clipped text.
func clipArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			if i%2 == 1 {
				a = protocol.Clip(v, maxLogText)
			}
		case error:
			a = protocol.Clip(v.Error(), maxLogText)
		}
		out[i] = a
	}
	return out
}

// logLimit is one client's allowance of log lines. It is safe for
// concurrent use: a client's reading goroutine and its data streams log.
type logLimit struct {
	mu   sync.Mutex
	b    *rate.Limiter
	held int
}

func newLogLimit() *logLimit {
	return &logLimit{b: rate.NewLimiter(logLinesPerClient, logBurstPerClient)}
}

// allow reports whether a line may be logged now and, if so, how many
// were held back since the last one that was.
func (l *logLimit) allow(now time.Time) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.b.AllowN(now, 1) {
		l.held++
		return false, 0
	}
	held, l.held = l.held, 0
	return true, held
}

// logf logs a line about the client, within its allowance, with its id
// and every string clipped (see maxLogText).
func (p *peer) logf(level slog.Level, msg string, args ...any) {
	if !p.h.log.Enabled(context.Background(), level) {
		return
	}
	ok, held := p.logs.allow(time.Now())
	if !ok {
		return
	}
	args = clipArgs(args)
	if held > 0 {
		args = append(args, "not_logged_since", held)
	}
	p.h.log.Log(context.Background(), level, msg, args...)
}
