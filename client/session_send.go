package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/muxfer/muxfer/transfer"
)

// SendOptions tune Session.Send.
type SendOptions struct {
	// To is another client's name: the files go to it end to end, and it
	// is asked first; if it is not connected, the hub holds them for it,
	// sealed to its identity (see Session.Send). Several names, separated
	// by commas, are always held: each gets an offer of its own, and the
	// hub stores the bytes once. "" stores the files on the hub.
	To string
	// Parallel is how many files are sent at once, each on a data stream
	// of its own: default 4, at most 64.
	Parallel int
	// LimitRate caps the file bytes this send writes, a second, all its
	// files together; 0 means no limit.
	LimitRate int64
}

// begin numbers a new Send or Get (next is the counter of its kind) and
// counts it as running, unless the session has ended.
func (s *Session) begin(next *int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return 0, s.err
	}
	n := *next
	*next++
	s.sending.Add(1)
	return n, nil
}

// Send sends files to the hub, or through it to opt.To, and returns when
// every file is delivered or has failed, with the outcome of each. While
// the session reconnects it waits, and then offers again what is not
// delivered, which resumes where the receiver holds it; it does the same
// on the same connection when the hub is busy with an earlier transfer of
// the files, or when opt.To left after accepting (until it is back, or
// the session's Backoff.GiveUp passes without progress). A recipient that
// is not there at the first offer fails it at once.
//
// Its progress comes as events: SendStarted, FileStarted, Progress,
// FileDone for each file, SendWaiting, and last SendDone, all with the
// same Send number.
func (s *Session) Send(ctx context.Context, files *Files, opt SendOptions) (*Report, error) {
	n, err := s.begin(&s.nextSend)
	if err != nil {
		return &Report{}, err
	}
	defer s.sending.Done()
	again := false
	obs := transfer.Observer{
		Started: func(files int, bytes int64) {
			s.events.push(SendStarted{Send: n, To: opt.To, Files: files, Bytes: bytes, Again: again})
			again = true
		},
		Opened:   func(path string) { s.events.push(FileStarted{Send: n, Path: path}) },
		Wrote:    func(k int) { s.events.push(Progress{Send: n, Bytes: int64(k)}) },
		Held:     func(k int64) { s.events.push(Progress{Send: n, Held: k}) },
		Finished: func(r FileReport) { s.events.push(FileDone{Send: n, To: opt.To, Report: r}) },
	}
	names := splitNames(opt.To)
	if len(names) > 1 {
		rep, held, err := s.hold(ctx, n, files, names, opt)
		s.events.push(SendDone{Send: n, To: opt.To, Report: rep, Err: err, Held: held})
		return rep, err
	}
	var toIdentity string
	if opt.To != "" {
		var err error
		if toIdentity, err = s.expect(ctx, opt.To); err != nil {
			s.events.push(SendDone{Send: n, To: opt.To, Report: &Report{}, Err: err})
			return &Report{}, err
		}
	}
	d := deliverOptions{
		SendOptions: transfer.SendOptions{Parallel: opt.Parallel, LimitRate: opt.LimitRate, To: opt.To, ToIdentity: toIdentity,
			ResumeKey: s.key, Observer: obs},
		Backoff:     s.cfg.Backoff,
		NoReconnect: s.cfg.NoReconnect,
		OnWait: func(err error, files int, wait time.Duration) {
			s.events.push(SendWaiting{Send: n, Err: err, Files: files, Wait: wait})
		},
	}
	rep, err := deliver(ctx, s.conn, files, d, false)
	var held *Held
	if errors.Is(err, ErrRecipientAway) && !rep.Accepted && ctx.Err() == nil {
		// Not there at the first offer: the hub holds the files instead,
		// if the name is someone's.
		hrep, hheld, herr := s.hold(ctx, n, files, names, opt)
		if errors.Is(herr, errNoIdentity) {
			err = fmt.Errorf("%w, and no identity owns that name here: the hub cannot hold files for it", err)
		} else {
			rep, held, err = hrep, hheld, herr
		}
	}
	s.events.push(SendDone{Send: n, To: opt.To, Report: rep, Err: err, Held: held})
	return rep, err
}

// splitNames splits a list of names separated by commas, dropping
// empty ones.
func splitNames(list string) []string {
	var out []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
