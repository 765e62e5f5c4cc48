package main

// Standard input and output as one file, for pipelines such as
// `tar c dir | muxfer send ADDR --stdin dir.tar` and
// `muxfer recv ADDR --stdout --yes | tar x`. send streams standard input
// as a file of unknown size, chunked as it is read (transfer.FromReader).
// recv goes through a file on disk, because a receiver verifies a file's
// hash before it gives the file out.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
	"github.com/spf13/pflag"
)

// sendStdin sends standard input to the hub at pos[0], or through it to
// --to, as one file called --stdin's NAME, as it is read: nothing is
// stored on the way, and it is never resumed.
func (cf *clientFlags) sendStdin(e env, fs *pflag.FlagSet, pos []string) error {
	if len(pos) > 1 {
		return usageError{fmt.Sprintf("--stdin sends standard input, not PATHs: remove %q or --stdin", pos[1])}
	}
	if err := checkStdinName(*cf.stdin); err != nil {
		return err
	}
	u, err := cf.setup(e, pos, "ADDR")
	if err != nil {
		return err
	}
	defer u.close()
	in := &stdinReader{ctx: e.ctx, r: e.stdin, got: make(chan readResult, 1), ended: func(n int64) {
		u.event(map[string]any{"type": "stdin", "name": *cf.stdin, "bytes": n},
			fmt.Sprintf("* standard input ended after %s, all sent as %s", size(n), *cf.stdin))
	}}
	// The mode a new file usually gets; the time it was sent.
	m := transfer.FromReader(*cf.stdin, "standard input", in, 0o644, time.Now().UnixNano())
	return cf.deliver(e, u, pos[0], m)
}

// stdinReader reads standard input for send --stdin, and tells ended
// how much there was when it ends. A Read returns when ctx ends even if
// standard input has nothing yet: the read underneath then stays blocked
// until the process exits, as chat's reader does (a read from a terminal
// or a pipe cannot be interrupted portably), and its goroutine with it.
type stdinReader struct {
	ctx     context.Context
	r       io.Reader
	buf     []byte // the read underneath fills it; made on the first Read
	pending bool   // a read underneath is under way, and will send on got
	got     chan readResult
	n       int64
	ended   func(n int64)
}

type readResult struct {
	n   int
	err error
}

// stdinBuf bounds one read of standard input.
const stdinBuf = 256 << 10

func (s *stdinReader) Read(p []byte) (int, error) {
	if !s.pending {
		if s.buf == nil {
			s.buf = make([]byte, stdinBuf)
		}
		s.pending = true
		buf := s.buf[:min(len(p), len(s.buf))]
		go func() {
			n, err := s.r.Read(buf)
			s.got <- readResult{n, err}
		}()
	}
	select {
	case r := <-s.got:
		s.pending = false
		copy(p, s.buf[:r.n])
		s.n += int64(r.n)
		if r.err == io.EOF {
			s.ended(s.n)
		}
		return r.n, r.err
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	}
}

// checkStdinName refuses a NAME for --stdin that is not one safe file
// name: a receiver refuses what transfer.CheckPath refuses, and would make
// a folder of anything before a slash.
func checkStdinName(name string) error {
	switch {
	case name == "":
		return usageError{"--stdin needs a NAME: the name the file gets at the receiver"}
	case strings.ContainsAny(name, `/\`):
		return usageError{fmt.Sprintf("--stdin %q: NAME is a file name, without / or \\", name)}
	}
	if err := transfer.CheckPath(name); err != nil {
		return usageError{"--stdin: " + err.Error()}
	}
	return nil
}

// oneFile is what recv --stdout puts around a receiving client: it lets
// one offer of exactly one regular file through, declines every other
// offer and tells its sender why, and hands over that one file's outcome.
// The file is received into a temporary folder of its own, so resuming
// works within one run only.
type oneFile struct {
	inbox string // made by newOneFile, removed by remove
	u     *ui
	c     *client.Client // to tell senders why; set by connected
	ready chan struct{}  // closed by connected

	mu    sync.Mutex // held while an offer is decided
	taken bool       // an offer was let through
	from  protocol.ClientInfo

	got      chan protocol.Result // the file's outcome; room for one
	left     chan struct{}        // closed when the file's sender leaves the hub
	leftOnce sync.Once
}

func newOneFile(u *ui) (*oneFile, error) {
	dir, err := os.MkdirTemp("", "muxfer-recv-*")
	if err != nil {
		return nil, fmt.Errorf("making a temporary folder to receive into: %w", err)
	}
	return &oneFile{inbox: dir, u: u, ready: make(chan struct{}), got: make(chan protocol.Result, 1), left: make(chan struct{})}, nil
}

// connected gives o the client that wrap's callbacks are for. It must
// come right after client.Dial returns it: an offer that comes first
// waits for it.
func (o *oneFile) connected(c *client.Client) {
	o.c = c
	close(o.ready)
}

// remove deletes the temporary folder and what was received into it; the
// client that received into it has been closed.
func (o *oneFile) remove() { os.RemoveAll(o.inbox) }

// wrap makes cfg receive into o's folder and puts o's checks around its
// callbacks, which stay in charge of what they did.
func (o *oneFile) wrap(cfg *client.Config) {
	received, message := cfg.OnReceived, cfg.OnMessage
	cfg.Inbox = o.inbox
	cfg.OnOffer = oneOffer(o, cfg.OnOffer)
	cfg.OnReceived = func(res protocol.Result) {
		received(res)
		select {
		case o.got <- res:
		default: // only one file was accepted: nothing else comes
		}
	}
	cfg.OnMessage = func(m protocol.Message) {
		message(m)
		if p, ok := m.(protocol.Presence); ok && p.Event == protocol.Leave && o.isSender(p.Client.ID) {
			o.leftOnce.Do(func() { close(o.left) })
		}
	}
}

// oneOffer puts o's checks before decide, recv's own answer to an offer:
// an offer o refuses is declined without asking decide, and the first that
// decide does not decline is the one.
func oneOffer(o *oneFile, decide func(protocol.Offer) client.Decision) func(protocol.Offer) client.Decision {
	return func(of protocol.Offer) client.Decision {
		o.mu.Lock()
		defer o.mu.Unlock()
		if why := o.refusal(of); why != "" {
			o.decline(of, why)
			return client.Ask // declined already, with the reason
		}
		d := decide(of)
		if d != client.Decline {
			o.taken, o.from = true, protocol.ClientInfo{ID: of.FromID, Name: of.From}
		}
		return d
	}
}

// refusal says why o declines an offer, or "" if it may take it; o.mu is
// held.
func (o *oneFile) refusal(of protocol.Offer) string {
	if o.taken {
		return "muxfer recv --stdout has taken a file already, and takes no other"
	}
	files, dirs, _ := tally(of.Files)
	if files == 1 && dirs == 0 {
		return ""
	}
	what := plural(files, "file") // "0 files and 1 folder": the files matter here
	if dirs > 0 {
		what += " and " + plural(dirs, "folder")
	}
	return "muxfer recv --stdout takes a single file, and this offer has " + what
}

// decline declines an offer, saying why here and to its sender. It runs
// in OnOffer, where the offer already waits for an answer.
func (o *oneFile) decline(of protocol.Offer, why string) {
	o.u.event(map[string]any{"type": "declined", "from": of.From, "reason": why},
		fmt.Sprintf("* declined an offer from %s: %s", of.From, why))
	<-o.ready
	o.c.Decline(of.Transfer, why)
}

func (o *oneFile) isSender(id uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.taken && o.from.ID == id
}

// deliver waits for the one file and, once it is stored and verified,
// copies it to w. It fails, writing nothing, if the file failed, if its
// sender left without sending it, or if the connection ended first. It
// closes the client.
func (o *oneFile) deliver(ctx context.Context, w io.Writer) error {
	c := o.c
	var res protocol.Result
	got := false
	var cut error
	select {
	case <-ctx.Done():
		return ctx.Err()
	case res = <-o.got:
		got = true
	case <-o.left:
		o.mu.Lock()
		cut = fmt.Errorf("%s left without sending the file", o.from.Name)
		o.mu.Unlock()
	case <-c.Done():
		cut = fmt.Errorf("%w: %w", errConnLost, c.Err())
	}
	// Close waits for the goroutines of the data streams: an outcome that
	// came as the sender left, or as the connection ended, is in o.got
	// after it. No offer comes after it either.
	c.Close()
	if !got {
		select {
		case res = <-o.got:
		default:
			return cut
		}
	}
	if res.Error != "" {
		return fmt.Errorf("file not received: %s", res.Error)
	}
	return o.copyOut(ctx, res.Stored, w)
}

// copyChunk is how much copyOut writes between looks at its context.
const copyChunk = 4 << 20

// copyOut copies the file stored as stored (relative to the inbox) to w,
// a chunk at a time, so that an interrupt stops a long copy.
func (o *oneFile) copyOut(ctx context.Context, stored string, w io.Writer) error {
	f, err := os.OpenInRoot(o.inbox, filepath.FromSlash(stored))
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := io.CopyN(w, f, copyChunk)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("writing %s to standard output: %w", stored, err)
		}
	}
}
