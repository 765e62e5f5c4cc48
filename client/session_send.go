package client

import (
	"context"
	"time"

	"github.com/muxfer/muxfer/transfer"
)

// SendOptions tune Session.Send.
type SendOptions struct {
	// To is another client's name: the hub relays the files to it, and it
	// is asked first. "" stores them on the hub.
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
	s.events.push(SendDone{Send: n, To: opt.To, Report: rep, Err: err})
	return rep, err
}
