package transfer

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// This file holds the loopback harness for end-to-end tests: a client and
// a hub session over real TCP on 127.0.0.1, a Conn for the client side,
// and a small receiving loop on the hub side built from Receiver.

// eventTimeout bounds every wait for something the other end must do.
const eventTimeout = 30 * time.Second

// dialLoopback returns the two ends of one muxfer session over loopback TCP,
// the handshake done.
func dialLoopback(t testing.TB) (client, hub *mux.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	cfg := mux.Config{Key: mux.NewKey()} // TLS and the key proof, as by default
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		s   *mux.Session
		err error
	}
	hubc := make(chan accepted, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			hubc <- accepted{nil, err}
			return
		}
		s, _, err := mux.Accept(ctx, nc, cfg)
		if err == nil {
			err = s.Send(protocol.Welcome{Version: protocol.Version, ID: 1, Name: "sender"})
		}
		if err == nil {
			err = s.Ready()
		}
		hubc <- accepted{s, err}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client, _, cerr := mux.Client(ctx, nc, protocol.Hello{Name: "sender"}, cfg)
	a := <-hubc
	if cerr != nil || a.err != nil {
		if client != nil {
			client.Close()
		}
		if a.s != nil {
			a.s.Close()
		}
		t.Fatalf("handshake: client %v, hub %v", cerr, a.err)
	}
	return client, a.s
}

// testConn is the sending side's Conn: one goroutine reads the control
// stream and routes Accept, Reject and Result to the transfer they name.
type testConn struct {
	sess *mux.Session
	done chan struct{} // closed when the reader ends

	mu   sync.Mutex
	subs map[string]*subscription
}

type subscription struct {
	ch   chan protocol.Message
	quit chan struct{}
}

func newTestConn(sess *mux.Session) *testConn {
	c := &testConn{sess: sess, done: make(chan struct{}), subs: map[string]*subscription{}}
	go c.read()
	return c
}

func (c *testConn) read() {
	defer close(c.done)
	for {
		m, err := c.sess.Recv()
		if err != nil {
			return
		}
		switch m := m.(type) {
		case protocol.Accept:
			c.route(m.Transfer, m)
		case protocol.Reject:
			c.route(m.Transfer, m)
		case protocol.Result:
			c.route(m.Transfer, m)
		}
	}
}

func (c *testConn) route(id string, m protocol.Message) {
	c.mu.Lock()
	s := c.subs[id]
	c.mu.Unlock()
	if s == nil {
		return
	}
	select {
	case s.ch <- m:
	case <-s.quit:
	}
}

func (c *testConn) Send(m protocol.Message) error { return c.sess.Send(m) }
func (c *testConn) Done() <-chan struct{}         { return c.done }
func (c *testConn) OpenData(ctx context.Context, h protocol.DataHeader) (DataStream, error) {
	return c.sess.OpenData(ctx, h)
}

func (c *testConn) Subscribe(id string) (<-chan protocol.Message, func()) {
	s := &subscription{ch: make(chan protocol.Message, 16), quit: make(chan struct{})}
	c.mu.Lock()
	c.subs[id] = s
	c.mu.Unlock()
	return s.ch, func() {
		c.mu.Lock()
		delete(c.subs, id)
		c.mu.Unlock()
		close(s.quit)
	}
}

// close ends the session and waits for the reader.
func (c *testConn) close() {
	c.sess.Close()
	<-c.done
}

// hubOptions change how the test hub answers.
type hubOptions struct {
	reject   string    // if set, every offer is refused with this reason
	cutAfter int64     // if set, the hub closes the session after receiving this many file bytes
	recv     *Receiver // if set, the hub stores into this receiver (a second connection to the same one)
}

// testHub is the receiving side: it answers each Offer with Accept (or
// Reject) using Receiver.Prepare, each data stream with the Result of
// Incoming.Receive, and a sender's Result with Incoming.Cancel.
type testHub struct {
	sess *mux.Session
	recv *Receiver
	dir  string // where files arrive
	opt  hubOptions

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	received   atomic.Int64 // file bytes read from data streams
	badHeaders atomic.Int32 // data streams that ended before their header
	cutOnce    sync.Once

	results  chan protocol.Result // every Result the hub sent, if there is room
	finished chan Stats           // one per transfer with every file finished
	synced   chan struct{}        // one per sync message

	mu        sync.Mutex
	transfers map[string]*Incoming
}

// startPair connects a testConn and a testHub over loopback TCP. Both are
// stopped, and their goroutines waited for, when the test ends.
func startPair(t testing.TB, opt hubOptions) (*testConn, *testHub) {
	t.Helper()
	cs, hs := dialLoopback(t)
	var recv *Receiver
	var dir string
	if opt.recv != nil {
		recv, dir = opt.recv, opt.recv.root.Name()
	} else {
		recv, dir = newTestReceiver(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &testHub{sess: hs, recv: recv, dir: dir, opt: opt, ctx: ctx, cancel: cancel,
		results: make(chan protocol.Result, 4096), finished: make(chan Stats, 64), synced: make(chan struct{}, 1),
		transfers: map[string]*Incoming{}}
	h.wg.Add(2)
	go h.controlLoop()
	go h.acceptLoop()
	c := newTestConn(cs)
	t.Cleanup(func() {
		c.close()
		h.stop()
	})
	return c, h
}

// stop closes the hub's session and waits for every goroutine of the hub.
// A test calls it to be sure that no stream is still being stored.
func (h *testHub) stop() {
	h.cancel()
	h.sess.Close()
	h.wg.Wait()
}

func (h *testHub) controlLoop() {
	defer h.wg.Done()
	for {
		m, err := h.sess.Recv()
		if err != nil {
			return
		}
		switch m := m.(type) {
		case protocol.Offer:
			h.offer(m)
		case protocol.Result: // the sender gave up on a file
			if in := h.transfer(m.Transfer); in != nil {
				in.Cancel(m.File)
				h.endIfDone(in)
			}
		case protocol.Chat:
			select {
			case h.synced <- struct{}{}:
			case <-h.ctx.Done():
			}
		}
	}
}

func (h *testHub) offer(o protocol.Offer) {
	if h.opt.reject != "" {
		h.sess.Send(protocol.Reject{Transfer: o.Transfer, Reason: h.opt.reject})
		return
	}
	in, err := h.recv.Prepare(o)
	if err != nil {
		h.sess.Send(protocol.Reject{Transfer: o.Transfer, Reason: err.Error()})
		return
	}
	h.mu.Lock()
	h.transfers[o.Transfer] = in
	h.mu.Unlock()
	h.sess.Send(in.Accept())
	h.endIfDone(in)
}

func (h *testHub) transfer(id string) *Incoming {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.transfers[id]
}

// endIfDone reports a transfer on finished once, when its last file ends.
func (h *testHub) endIfDone(in *Incoming) {
	if !in.Done() {
		return
	}
	h.mu.Lock()
	_, ok := h.transfers[in.Transfer()]
	delete(h.transfers, in.Transfer())
	h.mu.Unlock()
	if ok {
		select {
		case h.finished <- in.Stats():
		default: // nobody is counting (benchmarks)
		}
	}
}

func (h *testHub) acceptLoop() {
	defer h.wg.Done()
	for {
		st, err := h.sess.AcceptData(h.ctx)
		if err != nil {
			return
		}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer st.Close()
			h.receive(st)
		}()
	}
}

func (h *testHub) receive(st *mux.Stream) {
	cr := &cuttingReader{r: st, h: h}
	fs := datastream.NewReader(cr)
	for first := true; ; first = false {
		cr.header = true
		hd, err := fs.Next()
		cr.header = false
		if err != nil {
			if first {
				h.badHeaders.Add(1)
			}
			return
		}
		in := h.transfer(hd.Transfer)
		if in == nil {
			return
		}
		res, err := in.Receive(hd, fs)
		if err != nil {
			return
		}
		h.sess.Send(res)
		// Before the result is counted: a test that waited for it may look at
		// the open transfers next.
		h.endIfDone(in)
		select {
		case h.results <- res:
		default: // nobody is counting (benchmarks)
		}
		if fs.Broken() != nil {
			fs.Drain()
			return
		}
	}
}

// cuttingReader counts file bytes (not headers) and closes the hub's
// session once opt.cutAfter of them have arrived.
type cuttingReader struct {
	r      io.Reader
	h      *testHub
	header bool // reading a header: not counted
}

func (c *cuttingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.header {
		return n, err
	}
	if total := c.h.received.Add(int64(n)); c.h.opt.cutAfter > 0 && total >= c.h.opt.cutAfter {
		c.h.cutOnce.Do(func() { c.h.sess.Close() })
	}
	return n, err
}

// waitFinished waits for the next transfer to finish on the hub.
func (h *testHub) waitFinished(t testing.TB) Stats {
	t.Helper()
	select {
	case s := <-h.finished:
		return s
	case <-time.After(eventTimeout):
		t.Fatal("no transfer finished on the hub")
		return Stats{}
	}
}

// waitResult waits for the hub to answer one more data stream.
func (h *testHub) waitResult(t testing.TB) protocol.Result {
	t.Helper()
	select {
	case r := <-h.results:
		return r
	case <-time.After(eventTimeout):
		t.Fatal("the hub answered no data stream")
		return protocol.Result{}
	}
}

// sync returns once the hub has handled every control message c sent
// before: it sends a Chat and waits for the hub to see it.
func (h *testHub) sync(t testing.TB, c *testConn) {
	t.Helper()
	if err := c.Send(protocol.Chat{Text: "sync"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.synced:
	case <-time.After(eventTimeout):
		t.Fatal("the hub did not see the sync message")
	}
}
