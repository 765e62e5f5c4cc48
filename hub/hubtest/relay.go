package hubtest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// RelayClient speaks the hub's relayed transfer (the protocol README's
// Relayed transfer), as a client written from that text would: it sends
// offers with To through the hub, and accepts every offer the hub relays
// to it into its inbox. muxfer's own clients send and take files end to
// end instead; the hub's tests of its relay, and the benchmarks that
// compare the two paths, use this.
type RelayClient struct {
	s    *mux.Session
	root *os.Root           // the inbox; nil for none
	recv *transfer.Receiver // nil: every relayed offer is declined
	done chan struct{}      // closed when the session has ended
	wg   sync.WaitGroup

	mu   sync.Mutex
	subs map[string]*relaySub          // the transfers it sends, by id
	open map[string]*transfer.Incoming // the transfers it receives, by the hub's id
}

// RelayConfig configures a RelayClient.
type RelayConfig struct {
	Name      string
	Inbox     string        // where relayed files go; "" declines them
	IOTimeout time.Duration // mux.Config.IOTimeout
}

// DialRelay connects a RelayClient to the hub at addr that Start ran (or
// Remember names); it is closed when the test ends.
func DialRelay(t testing.TB, addr string, cfg RelayConfig) *RelayClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mcfg := ClientConfig(addr)
	mcfg.IOTimeout = cfg.IOTimeout
	c, err := NewRelayClient(ctx, addr, cfg, mcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// NewRelayClient connects a RelayClient to the hub at addr with mcfg (the
// benchmarks' programs use it; tests use DialRelay). Close ends it.
func NewRelayClient(ctx context.Context, addr string, cfg RelayConfig, mcfg mux.Config) (*RelayClient, error) {
	var root *os.Root
	if cfg.Inbox != "" {
		if err := os.MkdirAll(cfg.Inbox, 0o755); err != nil {
			return nil, err
		}
		var err error
		if root, err = os.OpenRoot(cfg.Inbox); err != nil {
			return nil, err
		}
	}
	s, _, err := mux.Dial(ctx, addr, protocol.Hello{Name: cfg.Name}, mcfg)
	if err != nil {
		if root != nil {
			root.Close()
		}
		return nil, err
	}
	c := &RelayClient{s: s, root: root, done: make(chan struct{}), subs: map[string]*relaySub{}, open: map[string]*transfer.Incoming{}}
	if root != nil {
		c.recv = transfer.NewReceiver(root)
	}
	c.wg.Go(c.read)
	c.wg.Go(c.acceptStreams)
	return c, nil
}

// Upload sends m to the hub, or with opt.To through the hub's relay.
func (c *RelayClient) Upload(ctx context.Context, m *transfer.Manifest, opt transfer.SendOptions) (*transfer.Report, error) {
	return transfer.Send(ctx, relayConn{c}, m, opt)
}

// Say sends a control message as it is.
func (c *RelayClient) Say(m protocol.Message) error { return c.s.Send(m) }

// Close ends the session, waits for its goroutines and closes the inbox.
func (c *RelayClient) Close() {
	c.s.Close()
	c.wg.Wait()
	if c.root != nil {
		c.root.Close()
	}
}

func (c *RelayClient) read() {
	defer close(c.done)
	for {
		m, err := c.s.Recv()
		if err != nil {
			return
		}
		switch m := m.(type) {
		case protocol.Offer:
			c.offered(m)
		case protocol.Accept:
			c.route(m.Transfer, m)
		case protocol.Reject:
			c.route(m.Transfer, m)
		case protocol.Result:
			c.route(m.Transfer, m)
		}
	}
}

// offered accepts a relayed offer, if the client has an inbox.
func (c *RelayClient) offered(o protocol.Offer) {
	if c.recv == nil {
		c.s.Send(protocol.Reject{Transfer: o.Transfer, Reason: "not receiving files"})
		return
	}
	in, err := c.recv.Prepare(o)
	if err != nil {
		c.s.Send(protocol.Reject{Transfer: o.Transfer, Reason: err.Error()})
		return
	}
	c.mu.Lock()
	c.open[o.Transfer] = in
	c.mu.Unlock()
	c.s.Send(in.Accept())
}

// relaySub is one transfer's subscription to its messages.
type relaySub struct {
	ch   chan protocol.Message
	quit chan struct{} // closed when the transfer stops listening
}

func (c *RelayClient) route(id string, m protocol.Message) {
	c.mu.Lock()
	sub := c.subs[id]
	c.mu.Unlock()
	if sub != nil {
		select {
		case sub.ch <- m:
		case <-sub.quit:
		}
	}
}

// acceptStreams stores the files of the streams the hub relays.
func (c *RelayClient) acceptStreams() {
	var streams sync.WaitGroup
	defer streams.Wait()
	for {
		st, err := c.s.AcceptData(context.Background())
		if err != nil {
			return
		}
		streams.Go(func() {
			defer st.Close()
			fs := datastream.NewReader(st)
			for {
				h, err := fs.Next()
				if err != nil {
					return
				}
				c.mu.Lock()
				in := c.open[h.Transfer]
				c.mu.Unlock()
				if in == nil {
					st.Abort()
					return
				}
				res, err := in.Receive(h, fs)
				if err != nil {
					st.Abort()
					return
				}
				c.s.Send(res)
				if fs.Broken() != nil {
					fs.Drain()
					return
				}
			}
		})
	}
}

// relayConn adapts a RelayClient to transfer.Conn.
type relayConn struct{ c *RelayClient }

func (x relayConn) Send(m protocol.Message) error { return x.c.s.Send(m) }
func (x relayConn) Done() <-chan struct{}         { return x.c.done }
func (x relayConn) OpenData(ctx context.Context, h protocol.DataHeader) (transfer.DataStream, error) {
	return x.c.s.OpenData(ctx, h)
}

func (x relayConn) Subscribe(id string) (<-chan protocol.Message, func()) {
	sub := &relaySub{ch: make(chan protocol.Message, 64), quit: make(chan struct{})}
	x.c.mu.Lock()
	x.c.subs[id] = sub
	x.c.mu.Unlock()
	return sub.ch, func() {
		x.c.mu.Lock()
		delete(x.c.subs, id)
		x.c.mu.Unlock()
		close(sub.quit)
	}
}
