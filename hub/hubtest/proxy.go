package hubtest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections to a target and can break them on
// purpose: stall them (bytes stop flowing both ways, but nothing is
// closed, like a dead link or a peer that lost power), or cut them (both
// sides see the connection close).
type Proxy struct {
	Addr   string // where clients connect
	target string
	ln     net.Listener

	stalled atomic.Bool
	resume  chan struct{} // closed and replaced by Resume

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// StartProxy forwards 127.0.0.1:0 to target until the test ends. Dial
// through the proxy finds the key of a hub that Start ran at target.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, resume: make(chan struct{})}
	if cfg, ok := keys.Load(target); ok {
		keys.Store(p.Addr, cfg)
		t.Cleanup(func() { keys.Delete(p.Addr) })
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(out, in)
		go p.pipe(in, out)
	}
}

// pipe copies src to dst, holding bytes back while the proxy is stalled.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.waitWhileStalled()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) waitWhileStalled() {
	for {
		p.mu.Lock()
		stalled, resume := p.stalled.Load(), p.resume
		p.mu.Unlock()
		if !stalled {
			return
		}
		<-resume
	}
}

// Stall stops every byte in both directions without closing anything.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled.Store(true)
}

// Resume lets bytes flow again after Stall.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled.Store(false)
	close(p.resume)
	p.resume = make(chan struct{})
}

// Cut closes every connection through the proxy; new ones still work.
func (p *Proxy) Cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (p *Proxy) close() {
	p.ln.Close()
	p.Resume()
	p.Cut()
	p.wg.Wait()
}
