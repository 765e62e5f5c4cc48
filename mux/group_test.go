package mux

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// header returns a yamux frame header: type, stream and length.
func header(typ byte, stream, length uint32) []byte {
	h := make([]byte, yamuxHeader)
	h[1] = typ
	binary.BigEndian.PutUint32(h[4:], stream)
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

// recordingConn is a connection whose writes are recorded, and fail with
// fail once it is set.
type recordingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	fail   error
	gate   chan struct{} // if not nil, each write waits for a receive
}

func (c *recordingConn) Write(p []byte) (int, error) {
	if c.gate != nil {
		<-c.gate
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *recordingConn) SetWriteDeadline(time.Time) error { return nil }
func (c *recordingConn) Close() error                     { return nil }

func (c *recordingConn) all() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Join(c.writes, nil)
}

// waitTaken waits until the sending goroutine has taken what is queued.
func waitTaken(gc *groupConn) {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	for len(gc.queued) > 0 {
		gc.cond.Wait()
	}
}

func TestGroupConnSendsEveryByteInOrderThenCloses(t *testing.T) {
	rc := &recordingConn{}
	gc := newGroupConn(rc, func() int { return 1 << 10 }, true, nil)
	var want []byte
	for i := range 500 {
		p := bytes.Repeat([]byte{byte(i)}, 1+i%700)
		want = append(want, p...)
		if _, err := gc.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := gc.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rc.all(); !bytes.Equal(got, want) {
		t.Fatalf("sent %d bytes, not the %d written in order", len(got), len(want))
	}
	if _, err := gc.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
}

func TestGroupConnJoinsWritesMadeWhileOneIsSent(t *testing.T) {
	rc := &recordingConn{gate: make(chan struct{})}
	gc := newGroupConn(rc, func() int { return 1 << 20 }, true, nil)
	// The first write is taken at once and held at the gate; the frames
	// written meanwhile must then leave together, in one write.
	gc.Write([]byte("first"))
	waitTaken(gc)
	frames := [][]byte{header(yamuxData, 3, 4), []byte("body"), header(1, 3, 0), header(yamuxData, 5, 2), []byte("xy")}
	for _, f := range frames {
		gc.Write(f)
	}
	rc.gate <- struct{}{}
	rc.gate <- struct{}{}
	close(rc.gate)
	gc.Close()
	if len(rc.writes) != 2 || !bytes.Equal(rc.writes[1], bytes.Join(frames, nil)) {
		t.Fatalf("writes %q: want the first alone, then the five frames in one", rc.writes)
	}
}

func TestGroupConnBoundsWhatIsQueued(t *testing.T) {
	rc := &recordingConn{gate: make(chan struct{})}
	const limit = 4 << 10
	gc := newGroupConn(rc, func() int { return limit }, true, nil)
	defer func() { close(rc.gate); gc.Close() }()
	gc.Write(make([]byte, 100))
	waitTaken(gc) // by the sender, held at the gate
	wrote := make(chan int, 64)
	go func() {
		for i := range 64 {
			if _, err := gc.Write(make([]byte, 1<<10)); err != nil {
				return
			}
			wrote <- i
		}
	}()
	// Writes go on until the queue reaches the limit, and then wait.
	for range limit >> 10 {
		<-wrote
	}
	gc.mu.Lock()
	for len(gc.queued) < limit {
		gc.cond.Wait()
	}
	queued := len(gc.queued)
	gc.mu.Unlock()
	select {
	case <-wrote:
		t.Fatalf("a write returned with %d bytes queued, limit %d", queued+1<<10, limit)
	default:
	}
	rc.gate <- struct{}{} // the first write ends; the queue goes out
	rc.gate <- struct{}{}
	<-wrote // and writing resumes
}

func TestGroupConnReportsAFailedWrite(t *testing.T) {
	broken := errors.New("connection reset by peer")
	t.Run("data frames see it on a later write", func(t *testing.T) {
		rc := &recordingConn{fail: broken}
		gc := newGroupConn(rc, func() int { return 1 << 20 }, true, nil)
		defer gc.Close()
		if _, err := gc.Write(header(yamuxData, 3, 1)); err != nil {
			t.Fatalf("first write: %v (it is queued, and cannot know yet)", err)
		}
		<-gc.done // the sender has met the error and stopped
		if _, err := gc.Write([]byte{1}); !errors.Is(err, broken) {
			t.Fatalf("write after the failure: %v, want %v", err, broken)
		}
	})
	t.Run("a control frame's own write returns it", func(t *testing.T) {
		rc := &recordingConn{gate: make(chan struct{})}
		gc := newGroupConn(rc, func() int { return 1 << 20 }, true, nil)
		defer gc.Close()
		got := make(chan error, 1)
		go func() {
			_, err := gc.Write(header(yamuxData, controlStream, 5))
			if err == nil {
				_, err = gc.Write([]byte("hello"))
			}
			got <- err
		}()
		rc.mu.Lock()
		rc.fail = broken
		rc.mu.Unlock()
		close(rc.gate)
		if err := <-got; !errors.Is(err, broken) {
			t.Fatalf("control body: %v, want %v", err, broken)
		}
	})
}

func TestGroupConnControlFramesWaitOnlyOnAClient(t *testing.T) {
	for _, client := range []bool{true, false} {
		rc := &recordingConn{gate: make(chan struct{})}
		gc := newGroupConn(rc, func() int { return 1 << 20 }, client, nil)
		returned := make(chan struct{})
		go func() {
			gc.Write(header(yamuxData, controlStream, 5))
			gc.Write([]byte("hello"))
			close(returned)
		}()
		if !client {
			<-returned // queued; the sender is held at the gate meanwhile
		}
		select {
		case <-returned:
			if client {
				t.Fatal("a client's control frame returned before it was written")
			}
		default:
		}
		close(rc.gate)
		<-returned
		gc.Close()
		if got := rc.all(); !bytes.HasSuffix(got, []byte("hello")) {
			t.Errorf("client %v: sent %q", client, got)
		}
	}
}

func TestGroupConnCloseWaitsAtMostTheGraceForAStuckPeer(t *testing.T) {
	a, b := net.Pipe() // b never reads: every write to a blocks until its deadline
	defer b.Close()
	gc := newGroupConn(a, func() int { return 1 << 20 }, true, nil)
	gc.Write([]byte("stuck"))
	done := make(chan error, 1)
	go func() { done <- gc.Close() }()
	select {
	case <-done:
	case <-time.After(10 * closeGrace):
		t.Fatal("Close did not return after its grace")
	}
	if _, err := io.ReadAll(io.LimitReader(b, 1)); err != nil {
		t.Fatal(err) // a is closed: b reads EOF
	}
}

// TestGroupConnSendsAClientsControlFramesFirst: on a client, a control
// frame goes ahead of the data queued before it, but never between a data
// frame's header and its body, and nothing comes between its own header
// and body.
func TestGroupConnSendsAClientsControlFramesFirst(t *testing.T) {
	dataHdr, dataBody := header(yamuxData, 3, 300), bytes.Repeat([]byte{'d'}, 300)
	ctrlHdr, ctrlBody := header(yamuxData, controlStream, 5), []byte("hello")
	for _, tt := range []struct {
		name  string
		split bool // the data header is taken before its body is written
		want  [][]byte
	}{
		{"ahead of queued data", false, [][]byte{[]byte("first"), ctrlHdr, ctrlBody, append(bytes.Clone(dataHdr), dataBody...)}},
		{"not inside a data frame", true, [][]byte{dataHdr, dataBody, ctrlHdr, ctrlBody}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := &recordingConn{gate: make(chan struct{})}
			gc := newGroupConn(rc, func() int { return 64 }, true, nil)
			if tt.split {
				gc.Write(dataHdr)
				waitTaken(gc) // held at the gate without its body
				gc.Write(dataBody)
			} else {
				gc.Write([]byte("first"))
				waitTaken(gc) // held at the gate
				gc.Write(dataHdr)
				gc.Write(dataBody) // fills the queue
			}
			sent := make(chan error, 1)
			go func() { // each waits until it is sent
				_, err := gc.Write(ctrlHdr)
				if err == nil {
					_, err = gc.Write(ctrlBody)
				}
				sent <- err
			}()
			gc.mu.Lock()
			for len(gc.urgent) == 0 {
				gc.cond.Wait()
			}
			gc.mu.Unlock()
			close(rc.gate)
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			gc.Close()
			if len(rc.writes) != len(tt.want) {
				t.Fatalf("writes %q, want %q", rc.writes, tt.want)
			}
			for i := range tt.want {
				if !bytes.Equal(rc.writes[i], tt.want[i]) {
					t.Errorf("write %d: %q, want %q", i, rc.writes[i], tt.want[i])
				}
			}
		})
	}
}
