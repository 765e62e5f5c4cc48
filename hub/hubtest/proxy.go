package hubtest

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections to a target and can break them on
// purpose: stall them (bytes stop flowing both ways, but nothing is
// closed, like a dead link or a peer that lost power), cut them (both
// sides see the connection close), reset them (the client sees a TCP
// RST), cut them after a number of bytes, slow them down, or send later
// connections to another target (a hub restarted on a new port).
type Proxy struct {
	Addr string // where clients connect
	ln   net.Listener
	quit chan struct{} // closed when the test ends: ends every wait

	mu      sync.Mutex
	target  string
	links   map[*link]struct{}
	closed  bool
	stalled bool
	resume  chan struct{} // closed and replaced by Resume
	cutLeft int64         // client→hub bytes until CutAfter cuts; < 0: not armed
	rate    int64         // bytes per second each way; 0: unlimited
	next    [2]time.Time  // per direction: when the bytes paced so far have passed
	orphans []net.Conn    // hub sides left open by Orphan, closed when the test ends
	latency time.Duration // for links made from now on
	record  bool          // keep a copy of every byte (Record)
	seen    []*[2][]byte  // the bytes of each link, each way, if recording

	wg sync.WaitGroup
}

// link is one proxied connection: the side the client dialled and the
// side the proxy dialled to the target.
type link struct {
	client, hub net.Conn
	seen        *[2][]byte    // its bytes each way, if recording; guarded by Proxy.mu
	latency     time.Duration // added to every byte, each way
	open        int           // pipes still running; guarded by Proxy.mu
	orphaned    bool          // the hub's side stays open and silent; guarded by Proxy.mu
}

// The two directions of a link, as indexes of Proxy.next.
const (
	up   = 0 // client → hub
	down = 1 // hub → client
)

// StartProxy forwards 127.0.0.1:0 to target until the test ends. Dial
// through the proxy finds the key of a hub that Start ran at target.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, quit: make(chan struct{}),
		links: map[*link]struct{}{}, resume: make(chan struct{}), cutLeft: -1}
	if cfg, ok := keys.Load(target); ok {
		keys.Store(p.Addr, cfg)
	}
	t.Cleanup(func() { keys.Delete(p.Addr) })
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
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		out, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			in.Close() // the client sees the connection close, as if nobody listened
			continue
		}
		p.mu.Lock()
		l := &link{client: in, hub: out, open: 2, latency: p.latency}
		if p.record {
			l.seen = new([2][]byte)
			p.seen = append(p.seen, l.seen)
		}
		if p.closed {
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.links[l] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(l, up)
		go p.pipe(l, down)
	}
}

// pipe copies one direction of l, holding bytes back while the proxy is
// stalled, pacing them to the rate, and cutting every link when CutAfter's
// count runs out.
func (p *Proxy) pipe(l *link, dir int) {
	defer p.wg.Done()
	src, dst := l.client, l.hub
	if dir == down {
		src, dst = l.hub, l.client
	}
	defer p.done(l)
	closeDst := func() {
		if dst == l.hub && p.isOrphaned(l) {
			return // left open: see Orphan
		}
		dst.Close()
	}
	write := func(b []byte) error { _, err := dst.Write(b); return err }
	if l.latency > 0 {
		line := p.delayLine(dst, l.latency, closeDst)
		defer close(line)
		write = func(b []byte) error {
			select {
			case line <- delayed{append([]byte(nil), b...), time.Now().Add(l.latency)}:
				return nil
			case <-p.quit:
				return net.ErrClosed
			}
		}
	} else {
		defer closeDst()
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf[:p.chunk(len(buf))])
		if !p.waitWhileStalled() {
			return
		}
		cut := false
		if dir == up {
			n, cut = p.spend(n)
		}
		if n > 0 {
			p.keep(l, dir, buf[:n])
			if !p.sleep(p.delay(dir, n)) {
				return
			}
			if werr := write(buf[:n]); werr != nil {
				return
			}
		}
		if cut {
			p.Cut()
			return
		}
		if err != nil {
			return
		}
	}
}

// delayed is a chunk on its way through a delay line.
type delayed struct {
	b   []byte
	due time.Time
}

// delayLine starts a goroutine that writes each chunk sent to the returned
// channel to dst once it is due, and, when the channel is closed and
// drained, calls closeDst. It holds up to 4096 chunks: more than a
// 100 Mbit/s link carries in a second.
func (p *Proxy) delayLine(dst net.Conn, latency time.Duration, closeDst func()) chan<- delayed {
	line := make(chan delayed, 4096)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer closeDst()
		failed := false
		for c := range line {
			if failed || !p.sleep(time.Until(c.due)) {
				failed = true
				continue // drain, so the pipe never blocks
			}
			if _, err := dst.Write(c.b); err != nil {
				failed = true
			}
		}
	}()
	return line
}

// SetLatency delays every byte by d in each direction, a round trip of
// 2d, on connections made from now on.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// done forgets l once both its pipes have ended.
func (p *Proxy) done(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.open--; l.open == 0 {
		delete(p.links, l)
	}
}

// waitWhileStalled returns when the proxy is not stalled, or false when
// the test has ended.
func (p *Proxy) waitWhileStalled() bool {
	for {
		p.mu.Lock()
		stalled, resume := p.stalled, p.resume
		p.mu.Unlock()
		if !stalled {
			return true
		}
		select {
		case <-resume:
		case <-p.quit:
			return false
		}
	}
}

// Stall stops every byte in both directions without closing anything.
// Connections made while stalled are accepted, and stall too.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// Resume lets bytes flow again after Stall.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	close(p.resume)
	p.resume = make(chan struct{})
}

// Cut closes every connection through the proxy; new ones still work.
// A side that had sent bytes the proxy had not read yet (a client in
// the middle of an upload, typically) gets a TCP RST from the kernel
// rather than an orderly close.
func (p *Proxy) Cut() { p.breakLinks(false) }

// Reset breaks every connection through the proxy as Cut does, but the
// client's side is always aborted: the client sees a TCP RST (a read or
// write fails with "connection reset by peer"), and bytes the proxy had
// not yet passed to it are dropped. The hub's side is closed as by Cut.
// New connections still work.
func (p *Proxy) Reset() { p.breakLinks(true) }

// Orphan breaks every connection on the client's side only, as a NAT or
// firewall that drops its state does: the client sees a TCP RST, and the
// hub sees nothing at all (no close, no more bytes) until the test ends,
// so it notices only by its keepalive. New connections still work.
func (p *Proxy) Orphan() {
	p.mu.Lock()
	links := p.links
	p.links = map[*link]struct{}{}
	for l := range links {
		l.orphaned = true
		p.orphans = append(p.orphans, l.hub)
	}
	p.mu.Unlock()
	for l := range links {
		if tc, ok := l.client.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		l.client.Close()
	}
}

func (p *Proxy) isOrphaned(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return l.orphaned
}

func (p *Proxy) breakLinks(reset bool) {
	p.mu.Lock()
	links := p.links
	p.links = map[*link]struct{}{}
	p.mu.Unlock()
	for l := range links {
		if tc, ok := l.client.(*net.TCPConn); ok && reset {
			tc.SetLinger(0) // Close then sends RST and drops what is unsent
		}
		l.client.Close()
		l.hub.Close()
	}
}

// CutAfter arms a cut: once n more bytes have passed from clients to the
// target, counted from this call and over all connections together, the
// proxy lets exactly those n through and then cuts every connection, as
// Cut does. The cut happens once; call CutAfter again to arm another. A
// later call replaces an armed count.
func (p *Proxy) CutAfter(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLeft = max(n, 0)
}

// spend counts n bytes going to the target against CutAfter's count. It
// returns how many of them may pass, and whether to cut after those.
func (p *Proxy) spend(n int) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cutLeft < 0 || n == 0 {
		return n, false
	}
	if int64(n) < p.cutLeft {
		p.cutLeft -= int64(n)
		return n, false
	}
	k := int(p.cutLeft)
	p.cutLeft = -1
	return k, true
}

// SetRate limits each direction to bytesPerSecond, over all connections
// together, like a slow link; 0 removes the limit. Bytes are paced chunk
// by chunk, with no burst allowance beyond one chunk and 2 ms of idle
// time (paceSlack), so the rate holds over any stretch of a few chunks.
func (p *Proxy) SetRate(bytesPerSecond int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = max(bytesPerSecond, 0)
}

// chunk is how many bytes a pipe reads at a time, at most size: at a low
// rate a chunk takes about 20 ms, so that pacing stays smooth.
func (p *Proxy) chunk(size int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rate > 0 {
		size = min(size, max(int(p.rate/50), 512))
	}
	return size
}

// paceSlack is the idle time a paced pipe may make up for at once.
const paceSlack = 2 * time.Millisecond

// delay books n bytes in direction dir against the rate and returns how
// long to wait before passing them on.
func (p *Proxy) delay(dir int, n int) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rate == 0 {
		return 0
	}
	now := time.Now()
	if early := now.Add(-paceSlack); p.next[dir].Before(early) {
		// An idle link saves up no burst beyond paceSlack, which covers
		// the pipe's own pauses between a write and the next read.
		p.next[dir] = early
	}
	p.next[dir] = p.next[dir].Add(time.Duration(n) * time.Second / time.Duration(p.rate))
	return p.next[dir].Sub(now)
}

// sleep waits d for pacing, or returns false when the test has ended.
func (p *Proxy) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.quit:
		return false
	}
}

// SetTarget sends the connections accepted from now on to addr;
// connections already made stay with the old target. If Start ran a hub
// at addr, clients of the proxy use its key from now on (a hub restarted
// with the key of the one it replaces needs no change).
func (p *Proxy) SetTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
	if cfg, ok := keys.Load(addr); ok {
		keys.Store(p.Addr, cfg)
	}
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	close(p.quit)
	p.Cut()
	p.mu.Lock()
	orphans := p.orphans
	p.mu.Unlock()
	for _, c := range orphans {
		c.Close()
	}
	p.wg.Wait()
}

// Record makes the proxy keep a copy of every byte of the links made from
// now on, each way, for Recorded: what a hub without TLS sees of its
// clients, or what a capture of the network would show.
func (p *Proxy) Record() {
	p.mu.Lock()
	p.record = true
	p.mu.Unlock()
}

// Recorded returns the bytes recorded so far, one slice per link and
// direction.
func (p *Proxy) Recorded() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]byte
	for _, s := range p.seen {
		out = append(out, append([]byte(nil), s[0]...), append([]byte(nil), s[1]...))
	}
	return out
}

// keep records b, bytes of l going dir, if the link is recorded.
func (p *Proxy) keep(l *link, dir int, b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.seen != nil {
		l.seen[dir] = append(l.seen[dir], b...)
	}
}
