// Command chatlat measures how long chat lines take from a client that is
// uploading to another client, through a hub, while the upload runs. Run
// one as -role bob (it prints the latencies when -lines lines arrived) and
// one as -role alice (it uploads -file again and again and sends a line
// every -every); bench/linkemu.sh runs them across a slow link. -role pipe
// is bob as a script sees him: it runs `muxfer chat --json` (-muxfer) with
// stdout a pipe and times each line when it reads it there
// (bench/chatpipe.sh). -role take and -role give send a file to a person
// end to end or through the hub's relay (person.go, bench/person.sh).
//
// Each line carries the time it was sent (the wall clock, which processes
// on one machine share), so bob measures each line's trip on its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

func main() {
	addr := flag.String("addr", "", "hub address")
	role := flag.String("role", "", "alice (uploads and chats), bob (listens), idle (holds -clients connections for -hold), uploaders (-clients clients each upload -file once, at the same time), take (receives what is sent to -name, by -path) or give (sends -file to -to by -path, -times times)")
	clients := flag.Int("clients", 1000, "idle: connections to hold")
	hold := flag.Duration("hold", 10*time.Second, "idle: how long to hold them")
	file := flag.String("file", "", "alice: the file to upload, again and again")
	lines := flag.Int("lines", 500, "chat lines")
	every := flag.Duration("every", 20*time.Millisecond, "alice: time between lines")
	warm := flag.Duration("warm", 2*time.Second, "alice: upload this long before the first line")
	frame := flag.Int("frame", 0, "alice: fixed data frame size (mux.Config.DataFrame; 0: paced)")
	lowat := flag.Int("lowat", 0, "alice: TCP_NOTSENT_LOWAT (mux.Config.NotSentLowat; 0: default)")
	muxfer := flag.String("muxfer", "muxfer", "pipe: the muxfer binary to run as bob")
	path := flag.String("path", "e2e", "take, give: e2e (a link, as muxfer's clients send to a person) or relay (the hub's relay)")
	name := flag.String("name", "", "take, give: the client's name")
	to := flag.String("to", "", "give: the recipient's name")
	dir := flag.String("dir", "", "take: where the files go")
	times := flag.Int("times", 3, "give: how many times to send -file")
	flag.Parse()
	key, err := mux.ParseKey(strings.TrimSpace(os.Getenv("MUXFER_KEY")))
	if err != nil {
		fail(err)
	}
	cfg := mux.Config{Key: key, DataFrame: *frame, NotSentLowat: *lowat}
	switch *role {
	case "bob":
		err = bob(*addr, cfg, *lines)
	case "pipe":
		err = pipeBob(*addr, *muxfer, *lines)
	case "alice":
		err = alice(*addr, cfg, *file, *lines, *every, *warm)
	case "idle":
		err = idle(*addr, cfg, *clients, *hold)
	case "uploaders":
		err = uploaders(*addr, cfg, *clients, *file)
	case "take":
		err = take(*addr, cfg, *path, *name, *dir)
	case "give":
		err = give(*addr, cfg, *path, *name, *to, *file, *times)
	default:
		err = fmt.Errorf("-role must be alice, bob, pipe, idle, uploaders, take or give")
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "chatlat:", err)
	os.Exit(1)
}

// idle connects n clients, one after the other, holds them for hold, and
// closes them: for measuring what idle clients cost a hub.
func idle(addr string, cfg mux.Config, n int, hold time.Duration) error {
	cs, err := dialMany(addr, cfg, n, "idle")
	defer closeAll(cs)
	if err != nil {
		return err
	}
	fmt.Printf("idle: %d clients connected\n", len(cs))
	time.Sleep(hold)
	return nil
}

// uploaders connects n clients and has each upload file at the same
// time: for measuring what a hub receiving from many clients costs.
func uploaders(addr string, cfg mux.Config, n int, file string) error {
	m, _, err := transfer.Scan(file)
	if err != nil {
		return err
	}
	cs, err := dialMany(addr, cfg, n, "up")
	defer closeAll(cs)
	if err != nil {
		return err
	}
	start := time.Now()
	errs := make(chan error, n)
	var bytes atomic.Int64
	for _, c := range cs {
		go func() {
			rep, err := c.Upload(context.Background(), m, transfer.SendOptions{})
			if err == nil && rep.Failed() > 0 {
				err = fmt.Errorf("%d files failed", rep.Failed())
			}
			if rep != nil {
				bytes.Add(rep.Bytes)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			return err
		}
	}
	took := time.Since(start)
	fmt.Printf("uploaders: %d clients sent %.0f MB in %s, %.1f MB/s together\n", n, float64(bytes.Load())/1e6, took.Round(time.Millisecond), float64(bytes.Load())/took.Seconds()/1e6)
	return nil
}

// dialMany connects n clients named prefix0, prefix1…, one after the
// other (a hub takes only so many handshakes at once). It returns those
// it connected, also on error.
func dialMany(addr string, cfg mux.Config, n int, prefix string) ([]*client.Client, error) {
	var cs []*client.Client
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, addr, client.Config{Name: fmt.Sprintf("%s%d", prefix, i), Mux: cfg})
		cancel()
		if err != nil {
			return cs, fmt.Errorf("client %d: %w", i, err)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func closeAll(cs []*client.Client) {
	for _, c := range cs {
		c.Close()
	}
}

func bob(addr string, cfg mux.Config, lines int) error {
	got := make(chan time.Duration, lines)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Config{Name: "bob", Mux: cfg, OnMessage: func(m protocol.Message) {
		if ch, ok := m.(protocol.Chat); ok {
			if ns, err := strconv.ParseInt(ch.Text, 10, 64); err == nil {
				select {
				case got <- time.Since(time.Unix(0, ns)):
				default:
				}
			}
		}
	}})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("bob: ready")
	var lat []time.Duration
	for len(lat) < lines {
		select {
		case d := <-got:
			lat = append(lat, d)
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d lines arrived", len(lat), lines)
		}
	}
	report(lat)
	return nil
}

// report prints the latencies' percentiles in milliseconds with two
// decimals, in the line bench/compare.sh and bench/chatpipe.sh read.
func report(lat []time.Duration) {
	slices.Sort(lat)
	at := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	fmt.Printf("chat latency over %d lines: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", len(lat),
		at(0.50), at(0.90), at(0.99), at(1))
}

func alice(addr string, cfg mux.Config, file string, lines int, every, warm time.Duration) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Config{Name: "alice", Mux: cfg})
	if err != nil {
		return err
	}
	defer c.Close()
	m, _, err := transfer.Scan(file)
	if err != nil {
		return err
	}
	// The upload runs until the chat is over. If it fails, the chat stops
	// and alice fails: latencies measured over an idle connection would
	// pass for the real thing.
	var moved atomic.Int64
	failed := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		obs := transfer.Observer{Wrote: func(n int) { moved.Add(int64(n)) }}
		for ctx.Err() == nil {
			// A new resume key each time: the file is sent in full.
			rep, err := c.Upload(ctx, m, transfer.SendOptions{Observer: obs})
			if ctx.Err() != nil {
				return
			}
			if err == nil && rep.Failed() > 0 {
				f := rep.Files[slices.IndexFunc(rep.Files, func(f transfer.FileReport) bool { return !f.OK() })]
				err = fmt.Errorf("%s: %s: %s", f.Path, f.Status, f.Err)
			}
			if err != nil {
				failed <- err
				return
			}
		}
	}()
	stop := func() { cancel(); wg.Wait() }
	select {
	case <-time.After(warm):
	case err := <-failed:
		stop()
		return fmt.Errorf("upload: %w", err)
	}
	start, before := time.Now(), moved.Load()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for range lines {
		select {
		case <-tick.C:
		case err := <-failed:
			stop()
			return fmt.Errorf("upload: %w", err)
		}
		if err := c.Chat(strconv.FormatInt(time.Now().UnixNano(), 10)); err != nil {
			stop()
			return err
		}
	}
	rate := float64(moved.Load()-before) / time.Since(start).Seconds()
	stop()
	select {
	case err := <-failed:
		return fmt.Errorf("upload: %w", err)
	default:
	}
	fmt.Printf("alice: uploaded at %.1f MB/s (%.0f Mbit/s) while chatting\n", rate/1e6, rate*8/1e6)
	return nil
}
