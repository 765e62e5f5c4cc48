package client

import (
	"sync"
	"testing"
	"time"
)

// TestQueueAddsProgressTogether: progress a caller has not taken yet is
// one event, in the place of the first, with every byte counted.
func TestQueueAddsProgressTogether(t *testing.T) {
	q := newQueue()
	q.on = true
	q.push(Message{Text: "before"})
	for range 1000 {
		q.push(Progress{Send: 1, Bytes: 1})
		q.push(Progress{Offer: 2, Bytes: 2})
	}
	q.push(FileDone{Send: 1})
	q.push(Progress{Send: 1, Held: 5})
	want := []Event{Message{Text: "before"}, Progress{Send: 1, Bytes: 1000, Held: 5}, Progress{Offer: 2, Bytes: 2000}, FileDone{Send: 1}}
	q.end()
	for i, w := range want {
		got, ok := q.pop()
		if !ok || got != w {
			t.Fatalf("event %d: %#v, %v; want %#v", i, got, ok, w)
		}
	}
	if ev, ok := q.pop(); ok {
		t.Fatalf("after the last: %#v", ev)
	}
}

// TestQueueKeepsTheNewestUntilAsked: before anyone asks for the events,
// a full queue drops the oldest and never makes the session wait.
func TestQueueKeepsTheNewestUntilAsked(t *testing.T) {
	q := newQueue()
	for i := range maxQueued + 10 {
		q.push(Retrying{Attempt: i})
	}
	if len(q.items) != maxQueued {
		t.Fatalf("%d events kept, want %d", len(q.items), maxQueued)
	}
	if ev, _ := q.pop(); ev.(Retrying).Attempt != 10 {
		t.Fatalf("oldest kept: %#v, want attempt 10", ev)
	}
}

// TestQueueMakesTheProducerWaitOnceAsked: once the caller takes events,
// a full queue holds the producer until there is room, or until the
// session is closed.
func TestQueueMakesTheProducerWaitOnceAsked(t *testing.T) {
	q := newQueue()
	var wg sync.WaitGroup
	ch := q.start(&wg)
	for i := range maxQueued + 1 { // the pump holds one, ready to hand over
		q.push(Retrying{Attempt: i})
	}
	pushed := make(chan struct{})
	go func() {
		q.push(Retrying{Attempt: -1})
		close(pushed)
	}()
	select {
	case <-pushed:
		t.Fatal("a push into a full queue did not wait")
	case <-time.After(50 * time.Millisecond): // a push that should wait: nothing to wait for
	}
	<-ch
	<-ch
	select {
	case <-pushed:
	case <-time.After(10 * time.Second):
		t.Fatal("the push still waits with room in the queue")
	}
	go q.push(Retrying{Attempt: -2}) // full again: waits until closed
	close(q.stop)
	wg.Wait()
}
