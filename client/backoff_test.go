package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/protocol"
)

func TestBackoffStepsGrowWithJitterUpToMax(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}.withDefaults()
	for n, full := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		full *= time.Millisecond
		for range 50 {
			if d := b.step(n + 1); d < full/2 || d > full {
				t.Fatalf("attempt %d waits %s, want within [%s, %s]", n+1, d, full/2, full)
			}
		}
	}
}

func TestRetryGivesUpWithTheLastError(t *testing.T) {
	b := Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond, GiveUp: 30 * time.Millisecond}
	tries := 0
	_, err := b.Retry(context.Background(), func(context.Context) (*Client, error) {
		tries++
		return nil, errors.New("connection refused")
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "gave up reconnecting after 30ms: connection refused") {
		t.Fatalf("Retry: %v", err)
	}
	if tries < 3 {
		t.Errorf("only %d tries in the give-up time", tries)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Backoff{Base: time.Hour}).Retry(ctx, func(context.Context) (*Client, error) {
		return nil, errors.New("down")
	}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Retry with a cancelled context: %v", err)
	}
}

// TestRetryStopsAtARefusalNoWaitChanges: a name owned by another identity,
// a failed identity proof or another protocol version end the retries at
// the first; a full hub does not.
func TestRetryStopsAtARefusalNoWaitChanges(t *testing.T) {
	for _, tt := range []struct {
		code  string
		tries int // at least
	}{
		{protocol.CodeNameOwned, 1},
		{protocol.CodeIdentity, 1},
		{protocol.CodeVersion, 1},
		{protocol.CodeLimit, 3},
	} {
		t.Run(tt.code, func(t *testing.T) {
			b := Backoff{Base: time.Millisecond, Max: 2 * time.Millisecond, GiveUp: 50 * time.Millisecond}
			tries := 0
			refusal := &protocol.Error{Code: tt.code, Text: "no"}
			_, err := b.Retry(t.Context(), func(context.Context) (*Client, error) {
				tries++
				return nil, fmt.Errorf("connect: %w", refusal)
			}, nil)
			var got *protocol.Error
			if !errors.As(err, &got) || got != refusal {
				t.Fatalf("Retry: %v, want the refusal", err)
			}
			if tt.tries == 1 && tries != 1 || tries < tt.tries {
				t.Errorf("%d tries, want %d", tries, tt.tries)
			}
		})
	}
}
