package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// Backoff spaces out attempts to reconnect: waits grow exponentially from
// Base up to Max, each drawn at random between half and all of that step
// (jitter, so that the clients of a restarted hub do not all return at
// once), until GiveUp has passed since the first attempt. Zero fields take
// the defaults: 250 ms, 10 s, 2 min — a laptop that changes networks is
// usually back well within that.
type Backoff struct {
	Base, Max, GiveUp time.Duration

	told time.Duration // the give-up time the error names, if not GiveUp
}

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = 250 * time.Millisecond
	}
	if b.Max <= 0 {
		b.Max = 10 * time.Second
	}
	if b.GiveUp <= 0 {
		b.GiveUp = 2 * time.Minute
	}
	return b
}

// step returns the wait before attempt n (from 1).
func (b Backoff) step(n int) time.Duration {
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d/2 + rand.N(d/2+1)
}

// Retry calls dial until it succeeds, waiting before each attempt (the
// first wait gives the hub time to notice the old connection is gone and
// free its name), and gives up with the last error once GiveUp has passed
// or ctx is done. After each failed attempt it calls onRetry, if set, with
// the attempt's number, its error and the next wait. A refusal that no
// wait can change (the name belongs to another identity, the identity's
// proof failed, another protocol version, no longer a member, a key or
// an identity the hub does not take) ends it at once.
func (b Backoff) Retry(ctx context.Context, dial func(context.Context) (*Client, error), onRetry func(attempt int, err error, wait time.Duration)) (*Client, error) {
	b = b.withDefaults()
	deadline := time.Now().Add(b.GiveUp)
	wait := b.step(1)
	for n := 1; ; n++ {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		c, err := dial(ctx)
		if err == nil {
			return c, nil
		}
		if final(err) {
			return nil, err
		}
		wait = b.step(n + 1)
		if time.Now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("gave up reconnecting after %s: %w", cmp.Or(b.told, b.GiveUp), err)
		}
		if onRetry != nil {
			onRetry(n, err, wait)
		}
	}
}

// final reports whether err is a hub's refusal that will not change
// however long the client waits.
func final(err error) bool {
	if errors.Is(err, mux.ErrAuth) { // the key, the hub's identity, or membership
		return true
	}
	var refused *protocol.Error
	if !errors.As(err, &refused) {
		return false
	}
	switch refused.Code {
	case protocol.CodeNameOwned, protocol.CodeIdentity, protocol.CodeVersion, protocol.CodeNotMember:
		return true
	}
	return false
}
