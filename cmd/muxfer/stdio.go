package main

// Standard input and output as one file, for pipelines such as
// `tar c dir | muxfer send ADDR --stdin dir.tar` and
// `muxfer recv ADDR --stdout --yes | tar x`. send streams standard input
// as a file of unknown size, chunked as it is read (client.FromReader).
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

	"github.com/muxfer/muxfer/client"
)

// sendStdin sends standard input to the hub at pos[0], or through it to
// --to, as one file called --stdin's NAME, as it is read: nothing is
// stored on the way, and it is never resumed.
func (cf *clientFlags) sendStdin(e env, pos []string) error {
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
	m := client.FromReader(*cf.stdin, in)
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
		switch {
		case r.err == io.EOF:
			s.ended(s.n)
		case r.err != nil:
			r.err = fmt.Errorf("reading standard input: %w", r.err)
		}
		return r.n, r.err
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	}
}

// checkStdinName refuses a NAME for --stdin that is not one safe file
// name: a receiver refuses what client.CheckName refuses, and would make
// a folder of anything before a slash.
func checkStdinName(name string) error {
	switch {
	case name == "":
		return usageError{"--stdin needs a NAME: the name the file gets at the receiver"}
	case strings.ContainsAny(name, `/\`):
		return usageError{fmt.Sprintf("--stdin %q: NAME is a file name, without / or \\", name)}
	}
	if err := client.CheckName(name); err != nil {
		return usageError{"--stdin: " + err.Error()}
	}
	return nil
}

// oneFile is recv --stdout's rule for offers: it lets one offer of
// exactly one regular file through, and declines every other, telling
// its sender why. decide runs on the connection's reading goroutine.
type oneFile struct {
	mu    sync.Mutex
	taken bool           // an offer was let through
	why   map[int]string // offers refused, by number, until declined
}

// decide is SessionConfig.Decide: Accept for the one, Ask for the rest,
// which the command declines with the reason.
func (o *oneFile) decide(of client.Offer) client.Decision {
	o.mu.Lock()
	defer o.mu.Unlock()
	if why := o.refusal(of); why != "" {
		o.why[of.N] = why
		return client.Ask
	}
	o.taken = true
	return client.Accept
}

// refusal says why o declines an offer, or "" if it may take it; o.mu is
// held.
func (o *oneFile) refusal(of client.Offer) string {
	if o.taken {
		return "muxfer recv --stdout has taken a file already, and takes no other"
	}
	files, dirs, _ := of.Totals()
	if files == 1 && dirs == 0 {
		return ""
	}
	what := plural(files, "file") // "0 files and 1 folder": the files matter here
	if dirs > 0 {
		what += " and " + plural(dirs, "folder")
	}
	return "muxfer recv --stdout takes a single file, and this offer has " + what
}

// refused returns why offer n was refused, once.
func (o *oneFile) refused(n int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	why := o.why[n]
	delete(o.why, n)
	return why
}

// recvOne is recv --stdout: it receives one file into a temporary folder
// and, once it is stored and verified, copies it to standard output. It
// fails, writing nothing, if the file failed (its sender left without
// sending it all, say), or if the connection ended first.
func (r *recvFlags) recvOne(e env, u *ui, cf *clientFlags, addr string) error {
	dir, err := os.MkdirTemp("", "muxfer-recv-*")
	if err != nil {
		return fmt.Errorf("making a temporary folder to receive into: %w", err)
	}
	defer os.RemoveAll(dir)
	one := &oneFile{why: map[int]string{}}
	s, v, err := cf.connect(e, u, addr, client.SessionConfig{Dir: dir, NoReconnect: true, Decide: one.decide})
	if err != nil {
		return err
	}
	defer s.Close()
	v.dir = "standard output"
	u.event(map[string]any{"type": "waiting"}, "* waiting for one file to write to standard output")
	var taken client.Offer
	var got client.FileDone
	for {
		var ev client.Event
		var ok bool
		select {
		case <-e.ctx.Done():
			return e.ctx.Err()
		case ev, ok = <-s.Events():
			if !ok {
				return fmt.Errorf("%w: %w", errConnLost, s.Err())
			}
		}
		switch ev := ev.(type) {
		case client.Offered:
			if why := one.refused(ev.Offer.N); why != "" {
				u.event(map[string]any{"type": "declined", "from": ev.Offer.From, "reason": why},
					fmt.Sprintf("* declined an offer from %s: %s", ev.Offer.From, why))
				s.Decline(ev.Offer.N, why)
				continue
			}
			taken = ev.Offer
		case client.FileDone:
			got = ev // a sender that leaves has its file failed or cancelled
		}
		v.show(ev)
		if done, ok := ev.(client.OfferDone); ok && done.Offer.N == taken.N {
			if got.Offer == 0 || done.Cut {
				return fmt.Errorf("%w: the file was cut", errConnLost)
			}
			if got.Report.Err != "" {
				return fmt.Errorf("file not received: %s", got.Report.Err)
			}
			s.Close()
			return copyOut(e.ctx, dir, got.Report.Stored, e.stdout)
		}
	}
}

// copyChunk is how much copyOut writes between looks at its context.
const copyChunk = 4 << 20

// copyOut copies the file stored as stored (relative to dir) to w,
// a chunk at a time, so that an interrupt stops a long copy.
func copyOut(ctx context.Context, dir, stored string, w io.Writer) error {
	f, err := os.OpenInRoot(dir, filepath.FromSlash(stored))
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
