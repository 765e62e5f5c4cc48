// Package hubtest runs real hubs and clients on loopback for tests: a hub
// on 127.0.0.1:0 with its own directory, clients that record what they
// hear, and helpers that compare folder trees by hash.
package hubtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// Hub is a hub serving on loopback until the test ends.
type Hub struct {
	*hub.Hub
	Addr string
	Dir  string
	Key  mux.Key

	accepts *acceptLog // what the hub accepted, and when
}

// keys maps the address of each hub Start ran to its access key, so that
// Dial needs only the address.
var keys sync.Map

// Start runs a hub with cfg on 127.0.0.1:0 and stops it when the test
// ends. Dir defaults to a temporary folder and the access key to a new one.
func Start(t testing.TB, cfg hub.Config) *Hub {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Mux.Key.IsZero() && !cfg.Mux.InsecureNoTLS {
		cfg.Mux.Key = mux.NewKey()
	}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newAcceptLog(tcp)
	served := make(chan error, 1)
	go func() { served <- h.Serve(ln) }()
	t.Cleanup(func() {
		h.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	addr := ln.Addr().String()
	keys.Store(addr, cfg.Mux)
	t.Cleanup(func() { keys.Delete(addr) })
	return &Hub{Hub: h, Addr: addr, Dir: cfg.Dir, Key: cfg.Mux.Key, accepts: ln}
}

// Remember makes Dial and ClientConfig reach a hub that Start did not run
// (a muxfer serve process, say) at addr with key, until the test ends.
func Remember(t testing.TB, addr string, key mux.Key) {
	keys.Store(addr, mux.Config{Key: key})
	t.Cleanup(func() { keys.Delete(addr) })
}

// ClientConfig returns the mux configuration that reaches the hub Start
// ran at addr: its key, or no TLS if it has none.
func ClientConfig(addr string) mux.Config {
	if cfg, ok := keys.Load(addr); ok {
		c := cfg.(mux.Config)
		return mux.Config{Key: c.Key, InsecureNoTLS: c.InsecureNoTLS}
	}
	return mux.Config{}
}

// Client is a connected client that records every message it hears.
type Client struct {
	*client.Client
	mu    sync.Mutex
	heard []protocol.Message
	more  chan struct{} // closed and replaced on every message
}

// Dial connects a client named name to addr; it is closed when the test
// ends.
func Dial(t testing.TB, addr, name string) *Client {
	t.Helper()
	return DialConfig(t, addr, client.Config{Name: name})
}

// DialConfig connects a client configured by cfg to addr, as Dial does;
// cfg's OnMessage and Mux are replaced.
func DialConfig(t testing.TB, addr string, cfg client.Config) *Client {
	t.Helper()
	c := &Client{more: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg.OnMessage, cfg.Mux = c.record, ClientConfig(addr)
	cl, err := client.Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Client = cl
	t.Cleanup(func() { cl.Close() })
	return c
}

func (c *Client) record(m protocol.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.heard = append(c.heard, m)
	close(c.more)
	c.more = make(chan struct{})
}

// Heard returns a copy of what the client has heard so far.
func (c *Client) Heard() []protocol.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]protocol.Message(nil), c.heard...)
}

// WaitFor waits until ok holds for what the client has heard, or fails
// the test after timeout.
func (c *Client) WaitFor(t testing.TB, timeout time.Duration, what string, ok func([]protocol.Message) bool) []protocol.Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		heard, more := append([]protocol.Message(nil), c.heard...), c.more
		c.mu.Unlock()
		if ok(heard) {
			return heard
		}
		select {
		case <-more:
		case <-deadline.C:
			t.Fatalf("%s: timed out after %s waiting for %s; heard %d messages", c.Name(), timeout, what, len(heard))
		}
	}
}

// Chats returns the chat messages among msgs.
func Chats(msgs []protocol.Message) []protocol.Chat {
	var out []protocol.Chat
	for _, m := range msgs {
		if c, ok := m.(protocol.Chat); ok {
			out = append(out, c)
		}
	}
	return out
}

// TreeHashes maps every entry under root, by slash-separated relative
// path, to the SHA-256 of its contents, or "dir" for a folder.
func TreeHashes(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			out[rel] = "dir"
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		out[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SameTree fails the test unless the trees under want and got have the
// same entries with the same contents.
func SameTree(t testing.TB, want, got string) {
	t.Helper()
	w, g := TreeHashes(t, want), TreeHashes(t, got)
	for p, h := range w {
		if g[p] != h {
			t.Errorf("%s: got %.12q, want %.12q", p, g[p], h)
		}
	}
	for p := range g {
		if _, ok := w[p]; !ok {
			t.Errorf("%s: not sent, but present", p)
		}
	}
}

// Testdata copies the repository's testdata folder (found at rel from the
// test's package) into a temporary folder and adds what git cannot hold:
// empty folders. It returns the copy's path, ending in "testdata".
func Testdata(t testing.TB, rel string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "testdata")
	if err := os.CopyFS(dst, os.DirFS(rel)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dst, "empty folder", "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Lag lets d pass: the latency of a slow link or a slow peer that a
// test plays, which has no event to wait for.
func Lag(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}

// PauseAfterFirstByte returns conn, except that its first Write sends one
// byte at once and the rest after pause: a client whose handshake has
// begun but goes on slowly.
func PauseAfterFirstByte(conn net.Conn, pause time.Duration) net.Conn {
	return &pausedConn{Conn: conn, pause: pause}
}

type pausedConn struct {
	net.Conn
	pause  time.Duration
	paused bool
}

func (c *pausedConn) Write(b []byte) (int, error) {
	if c.paused || len(b) == 0 {
		return c.Conn.Write(b)
	}
	c.paused = true
	if _, err := c.Conn.Write(b[:1]); err != nil {
		return 0, err
	}
	Lag(c.pause)
	n, err := c.Conn.Write(b[1:])
	return 1 + n, err
}
