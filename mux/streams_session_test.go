package mux_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// A peer that opens more data streams than the hub's budget allows has
// the rest refused as they open: its reads and writes on them fail with
// mux.ErrStreamRefused, the session goes on, and the budget is given back as
// streams end.
func TestStreamsBeyondTheBudgetAreRefused(t *testing.T) {
	const limit = 5
	budget := mux.NewTestBudget(limit)
	client, hub := pair(t, mux.Config{Streams: budget})

	accepted := make(chan *mux.Stream, 2*limit)
	go func() {
		for {
			st, err := hub.AcceptData(context.Background())
			if err != nil {
				close(accepted)
				return
			}
			accepted <- st
		}
	}()
	ctx := context.Background()
	var open []*mux.Stream
	for range limit {
		st, err := client.OpenData(ctx, protocol.DataHeader{Transfer: "t"})
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, st)
	}
	for range limit {
		st := <-accepted
		if _, err := st.ReadHeader(); err != nil {
			t.Fatalf("an accepted stream: %v", err)
		}
		defer st.Close()
	}
	for i, st := range open {
		if err := st.Opened(ctx); err != nil {
			t.Errorf("stream %d within the budget: Opened: %v", i, err)
		}
	}
	over, err := client.OpenData(ctx, protocol.DataHeader{Transfer: "t", File: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := over.Opened(ctx); !errors.Is(err, mux.ErrStreamRefused) {
		t.Errorf("a stream over the budget: Opened: %v, want ErrStreamRefused", err)
	}
	if _, err := io.ReadAll(over); !errors.Is(err, mux.ErrStreamRefused) {
		t.Fatalf("a stream over the budget: read %v, want ErrStreamRefused", err)
	}
	over.Close()
	if budget.Holding() != limit {
		t.Errorf("the budget holds %d, want %d", budget.Holding(), limit)
	}
	if err := client.Send(protocol.Chat{Text: "still here"}); err != nil {
		t.Fatalf("the session after a refused stream: %v", err)
	}
	if m, err := hub.Recv(); err != nil || m.(protocol.Chat).Text != "still here" {
		t.Fatalf("the hub heard %v, %v", m, err)
	}
	client.Close()
	<-hub.Done()
	for _, st := range open {
		if err := st.Opened(ctx); err != nil {
			t.Errorf("Opened after the session ended: %v, want the answer it had (nil)", err)
		}
	}
	for range accepted {
	}
	hub.Close()
	if budget.Holding() != 0 || budget.Top() != limit {
		t.Errorf("after the session: the budget holds %d (at most %d), want 0 (at most %d)", budget.Holding(), budget.Top(), limit)
	}
	for _, st := range open {
		st.Close()
	}
}

// TestStreamResetByItsOpenerIsAbortedNotRefused: a stream that the peer
// opened and then reset (yamux resets a stream whose close is not
// answered within the I/O timeout) reads as aborted, not as refused: its
// reader must not take it for a stream of its own that the peer refused,
// and the session goes on.
func TestStreamResetByItsOpenerIsAbortedNotRefused(t *testing.T) {
	budget := mux.NewTestBudget(8)
	cli, hub := pair(t, mux.Config{IOTimeout: 300 * time.Millisecond, Streams: budget})
	ctx := context.Background()
	st, err := cli.OpenData(ctx, protocol.DataHeader{Transfer: "t"})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("the whole file")
	if _, err := st.Write(payload); err != nil {
		t.Fatal(err)
	}
	st.Close() // half-closed: the hub never closes its side
	in, err := hub.AcceptData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(in, got); err != nil || string(got) != string(payload) {
		t.Fatalf("read %q, %v", got, err)
	}
	// The hub's gate stops counting the stream when its reset passes.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * time.Second); budget.Holding() > 0; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatal("the opener never reset its half-closed stream")
		}
	}
	if _, err := in.Read(got); !errors.Is(err, mux.ErrAborted) || errors.Is(err, mux.ErrStreamRefused) {
		t.Fatalf("reading a stream its opener reset: %v, want ErrAborted", err)
	}
	if err := cli.Send(protocol.Chat{Text: "still here"}); err != nil {
		t.Fatalf("the session ended with the stream: %v", err)
	}
}
