package transfer

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// TestSlotBindsItsStreamToEachFilesContext: a slot's stream carries one
// file after another, each bound to its own context. The end of a written
// (detached) file's context leaves the stream alone; the end of the
// current file's context aborts it, and it cannot carry another file.
func TestSlotBindsItsStreamToEachFilesContext(t *testing.T) {
	cli, hub := dialLoopback(t)
	defer hub.Close()
	conn := newTestConn(cli)
	defer conn.close()
	slot := &streamSlot{conn: conn}
	defer slot.close()

	first, endFirst := context.WithCancel(context.Background())
	st, err := slot.start(first, protocol.DataHeader{Transfer: "t", File: 0})
	if err != nil {
		t.Fatal(err)
	}
	in, err := hub.AcceptData(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	st.Write([]byte("one"))
	slot.detach()
	endFirst() // the first file's result came
	second, endSecond := context.WithCancel(context.Background())
	next, err := slot.start(second, protocol.DataHeader{Transfer: "t", File: 1})
	if err != nil {
		t.Fatalf("start of the second file after the first file's context ended: %v", err)
	}
	if next != st {
		t.Fatal("the second file went on a new stream")
	}
	if _, err := st.Write([]byte("two")); err != nil {
		t.Fatalf("Write of the second file: %v", err)
	}
	if h, err := in.ReadHeader(); err != nil || h.File != 0 {
		t.Fatalf("first header %+v, %v", h, err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "one" {
		t.Fatalf("first file %q, %v", buf, err)
	}
	if h, err := in.ReadHeader(); err != nil || h.File != 1 {
		t.Fatalf("second header %+v, %v", h, err)
	}
	endSecond() // the second file is cancelled while the stream carries it
	for {
		if _, err := st.Write([]byte("x")); errors.Is(err, mux.ErrAborted) {
			break
		} else if err != nil {
			t.Fatalf("write after cancel: %v, want ErrAborted", err)
		}
	}
	if err := slot.bind(context.Background()); !errors.Is(err, mux.ErrAborted) {
		t.Fatalf("bind of an aborted stream: %v, want ErrAborted", err)
	}
}

// TestSlotOpeningEndsWithItsFilesContext: a slot waiting to open a stream
// (the session has as many open as it may) stops when the file's context
// ends, with that context's reason.
func TestSlotOpeningEndsWithItsFilesContext(t *testing.T) {
	cli, hub := dialLoopback(t)
	defer hub.Close()
	conn := newTestConn(cli)
	defer conn.close()
	for i := range protocol.MaxDataStreams {
		st, err := cli.OpenData(context.Background(), protocol.DataHeader{Transfer: "t", File: i})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
	}
	slot := &streamSlot{conn: conn}
	defer slot.close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := slot.start(ctx, protocol.DataHeader{Transfer: "t", File: protocol.MaxDataStreams}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("start with every stream taken: %v, want the file's deadline", err)
	}
}
