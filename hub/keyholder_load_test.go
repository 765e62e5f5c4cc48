package hub_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// keyHolderRSSBound is the most memory (peak resident set) the hub
// process may take while one key holder attacks it. What the hub lets one
// address hold: 32 clients, each with at most 4 MiB of queued messages
// (128 MiB), 200,000 entries of open transfers (about 30 MiB), and the
// buffers of their streams; a hub that serves nobody takes about 15 MiB.
const keyHolderRSSBound = 256 << 20

// One key holder, from one address, tries to take a real hub (the muxfer
// binary): a thousand sessions, each asking who is there and never
// reading the answers, or offering tens of thousands of files it never
// sends, and a flood of pings. The hub turns away all but its address's
// share, its memory stays bounded, and an honest client from another
// address chats and uploads meanwhile, every line and every file arriving.
func TestOneKeyHolderCannotTakeTheHub(t *testing.T) {
	sc := startScene(t)
	addr, alice, bob, mallory := sc.addr, sc.alice, sc.bob, sc.mallory

	// A thousand sessions, eight at a time (the address's share of the
	// handshake slots): each one admitted attacks at once and holds on.
	var (
		mu                 sync.Mutex
		admitted, refused  int
		sessions           []*yamux.Session
		attackers, dialers sync.WaitGroup
	)
	t.Cleanup(func() {
		mu.Lock()
		for _, s := range sessions {
			s.Close()
		}
		mu.Unlock()
		attackers.Wait()
	})
	next := make(chan int)
	for range 8 {
		dialers.Go(func() {
			for i := range next {
				s, ctrl, err := dialSessionVia(mallory, addr)
				if err == nil {
					ctrl.SetDeadline(time.Now().Add(wait))
					err = sayHello(ctrl, fmt.Sprintf("mallory%d", i))
					ctrl.SetDeadline(time.Time{})
				}
				mu.Lock()
				if err != nil {
					refused++
					if s != nil {
						s.Close()
					}
					mu.Unlock()
					continue
				}
				admitted++
				sessions = append(sessions, s)
				mu.Unlock()
				attackers.Go(func() { keyHolderAttack(i, ctrl) })
			}
		})
	}
	attackers.Go(func() {
		conn, err := mallory.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer conn.Close()
		if sc, err := floodPings(conn, addr, "pinger", 50_000); err == nil {
			io.Copy(io.Discard, sc)
			sc.Close()
		}
	})

	// Bob counts mallory's sessions, as the hub lists them, ten times a
	// second (within his rate of who).
	counted := make(chan int, 1)
	stopCounting := make(chan struct{})
	go func() {
		most := 0
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-stopCounting:
				counted <- most
				return
			}
			list, err := bob.Who(context.Background())
			if err != nil {
				continue
			}
			n := 0
			for _, c := range list {
				if strings.HasPrefix(c.Addr, "127.0.0.2:") {
					n++
				}
			}
			most = max(most, n)
		}
	}()

	uploaded := sc.upload()
	const lines = 50
	chatted := make(chan error, 1)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond) // a second of talk, well within the rate
		defer tick.Stop()
		for i := range lines {
			if err := alice.Chat(fmt.Sprint("alice ", i)); err != nil {
				chatted <- fmt.Errorf("alice cut off after %d lines: %v", i, err)
				return
			}
			<-tick.C
		}
		chatted <- nil
	}()
	for i := range 1000 {
		next <- i
	}
	close(next)
	dialers.Wait()
	close(stopCounting)
	mostConnected := <-counted
	if err := <-chatted; err != nil {
		t.Fatal(err)
	}
	sc.uploaded(uploaded)
	expectLines(t, bob, "alice", lines)
	if _, err := alice.Who(context.Background()); err != nil {
		t.Fatalf("alice after the attack: %v", err)
	}

	rss := peakRSS(t, sc.pid)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("mallory's sessions: %d admitted, %d refused, at most %d at once; the hub's peak RSS %s", admitted, refused, mostConnected, mib(rss))
	if mostConnected > hub.DefaultMaxClientsPerAddr {
		t.Errorf("%d sessions from one address at once, want at most %d", mostConnected, hub.DefaultMaxClientsPerAddr)
	}
	if rss > keyHolderRSSBound {
		t.Errorf("the hub's peak RSS was %s, want at most %s", mib(rss), mib(keyHolderRSSBound))
	}
}

// keyHolderAttack is what attacking session i does on its control stream
// ctrl: ask who is there as fast as it may and never read (even i), or
// offer files of its own and never send them (odd i).
func keyHolderAttack(i int, ctrl net.Conn) {
	ctrl.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if i%2 == 0 {
		for range 1000 {
			if protocol.WriteMessage(ctrl, protocol.Who{}) != nil {
				return
			}
		}
		return
	}
	for k := range 5 {
		o := protocol.Offer{Transfer: fmt.Sprintf("m%d-%d", i, k)}
		for j := range 12_000 {
			o.Files = append(o.Files, protocol.File{Path: fmt.Sprintf("m%d/%d/%d", i, k, j), Size: 1 << 10, Mode: 0o644})
		}
		if protocol.WriteMessage(ctrl, o) != nil {
			return
		}
	}
}

// scene is a real hub (hubtest.StartServe) under attack: alice and bob are honest
// clients from 127.0.0.1, mallory dials from 127.0.0.2, and alice uploads
// testdata (src, scanned as m) meanwhile.
type scene struct {
	t          *testing.T
	addr, dir  string
	pid        int
	alice, bob *hubtest.Client
	mallory    *net.Dialer
	src        string
	m          *transfer.Manifest
}

func startScene(t *testing.T) *scene {
	t.Helper()
	sc := &scene{t: t, dir: t.TempDir()}
	serve, err := hubtest.StartServe(t, hubtest.BuildMuxfer(t, "../cmd/muxfer"), nil, "--listen", "127.0.0.1:0", "--dir", sc.dir)
	if err != nil {
		t.Fatal(err)
	}
	hubtest.Remember(t, serve.Addr, serve.Key(t))
	sc.addr, sc.pid = serve.Addr, serve.Cmd.Process.Pid
	sc.alice = hubtest.Dial(t, sc.addr, "alice")
	sc.bob = hubtest.Dial(t, sc.addr, "bob")
	sc.mallory = dialerFrom(t, "127.0.0.2")
	sc.src = hubtest.Testdata(t, "../testdata")
	if sc.m, _, err = transfer.Scan(sc.src); err != nil {
		t.Fatal(err)
	}
	return sc
}

// upload starts alice's upload of testdata; uploaded waits for it.
func (sc *scene) upload() <-chan error {
	done := make(chan error, 1)
	go func() {
		rep, err := sc.alice.Upload(context.Background(), sc.m, transfer.SendOptions{})
		if err == nil && rep.Failed() > 0 {
			err = fmt.Errorf("%d files failed: %+v", rep.Failed(), rep.Files)
		}
		done <- err
	}()
	return done
}

// uploaded waits for the upload that upload started, and checks that every
// file arrived whole.
func (sc *scene) uploaded(done <-chan error) {
	sc.t.Helper()
	if err := <-done; err != nil {
		sc.t.Fatalf("alice's upload during the attack: %v", err)
	}
	hubtest.SameTree(sc.t, sc.src, filepath.Join(sc.dir, "testdata"))
}

// peakRSS is the peak resident set of process pid (Linux: VmHWM).
func peakRSS(t *testing.T, pid int) uint64 {
	t.Helper()
	rss, err := hubtest.PeakRSS(pid)
	if err != nil {
		t.Skipf("cannot read the hub's peak memory: %v", err)
	}
	return rss
}
