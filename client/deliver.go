package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// deliverOptions tune deliver.
type deliverOptions struct {
	transfer.SendOptions
	// Backoff spaces out the attempts to reconnect after the connection is
	// lost, and says when to give up: after Backoff.GiveUp without any
	// progress (no byte sent, no file confirmed) since the connection was
	// first lost.
	Backoff Backoff
	// NoReconnect makes a lost connection final, as with Upload. deliver
	// still waits on the connection it has for a busy hub or for a
	// recipient that left.
	NoReconnect bool
	// OnRetry, if set, is called after each failed attempt to reconnect,
	// with its number, its error and the wait before the next.
	OnRetry func(attempt int, err error, wait time.Duration)
	// OnLost, if set, is called when the connection is lost and deliver
	// is about to reconnect, with the reason and the files still to go.
	OnLost func(err error, files int)
	// OnWait, if set, is called when deliver waits on a connection that
	// is still up before offering again: the hub was busy with an
	// earlier transfer of the files, or the recipient of a relayed Send
	// left and may come back. err says which.
	OnWait func(err error, files int, wait time.Duration)
}

// deliver sends the files of m over a connection from dial, as Upload
// does, and finishes the job: an offer the hub refuses for the moment (an
// earlier transfer of the same files is still ending) is made again after
// a wait, and a relayed send whose recipient leaves after accepting offers
// again, on the same connection, the files it had not stored, until the
// recipient is back (and resumes them) or Backoff.GiveUp passes without
// progress. A recipient that is not connected at the first offer fails it
// at once.
//
// A lost connection is replaced: with own, by dialling again as
// opt.Backoff says (closing every connection dial gives); without, by
// calling dial once more (Session.conn, which waits while the session
// reconnects). Every file not yet delivered is offered again and resumes
// where the receiver holds it. It returns when every file is delivered or
// has failed for a reason of its own, when the hub refuses the client,
// when reconnecting gives up, or when ctx is done; the report lists each
// file once, with its last status. Only the tests use own (export_test.go).
func deliver(ctx context.Context, dial func(context.Context) (*Client, error), m *transfer.Manifest, opt deliverOptions, own bool) (*transfer.Report, error) {
	start := time.Now()
	if opt.ResumeKey == nil {
		// One key for every attempt, so that each resumes the last.
		opt.ResumeKey = make([]byte, 32)
		rand.Read(opt.ResumeKey)
	}
	// Progress is what the hub holds: a file confirmed, or more of a file
	// than at any earlier attempt. (Bytes written to a stream prove
	// nothing: a link that drops every connection takes them too.)
	var mu sync.Mutex
	held := map[string]int64{}
	progressed := false
	resumed := opt.Observer.Resumed
	opt.Observer.Resumed = func(path string, from int64) {
		mu.Lock()
		if prev, ok := held[path]; ok && from > prev {
			progressed = true
		}
		held[path] = max(held[path], from)
		mu.Unlock()
		if resumed != nil {
			resumed(path, from)
		}
	}
	madeProgress := func() bool {
		mu.Lock()
		defer mu.Unlock()
		p := progressed
		progressed = false
		return p
	}
	b := opt.Backoff.withDefaults()
	final := &transfer.Report{}
	defer func() { final.Elapsed = time.Since(start) }()
	c, err := dial(ctx)
	if err != nil {
		notSent(final, m, err)
		return final, err
	}
	release := func() {
		if own {
			c.Close()
		}
	}
	left := m
	var stuckSince time.Time // when the run of attempts without progress began
	met := false             // a relayed Send's recipient has answered an offer
	for attempt := 1; ; attempt++ {
		rep, err := c.Upload(ctx, left, opt.SendOptions)
		final.Bytes += rep.Bytes
		final.Moving += rep.Moving
		final.Dirs = rep.Dirs
		met = met || rep.Accepted
		var again []transfer.FileReport // to offer again
		away := errors.Is(err, transfer.ErrRecipientAway)
		retry := errors.Is(err, transfer.ErrConnectionLost) || errors.Is(err, transfer.ErrTryAgain) || away && met
		var refused *protocol.Error
		if errors.As(err, &refused) {
			retry = false // the hub ended the session on purpose
		}
		for _, f := range rep.Files {
			if retry && (f.Status == transfer.Unconfirmed || f.Status == transfer.NotSent) {
				again = append(again, f)
			} else {
				final.Files = append(final.Files, f)
			}
		}
		sameConn := (errors.Is(err, transfer.ErrTryAgain) || away) && c.Err() == nil
		if len(again) == 0 || opt.NoReconnect && !sameConn {
			release()
			final.Files = append(final.Files, again...)
			return final, err
		}
		if madeProgress() || rep.Bytes > 0 || stuckSince.IsZero() {
			stuckSince = time.Now()
		}
		left = m.Only(pathsOf(again))
		budget := b
		budget.GiveUp, budget.told = b.GiveUp-time.Since(stuckSince), b.GiveUp
		if budget.GiveUp <= 0 {
			release()
			final.Files = append(final.Files, again...)
			return final, fmt.Errorf("%w; gave up after %s without progress", err, b.GiveUp)
		}
		if sameConn {
			// The connection is fine: wait, and offer again on it.
			wait := b.step(attempt)
			if opt.OnWait != nil {
				opt.OnWait(err, len(again), wait)
			}
			if werr := sleep(ctx, wait); werr != nil {
				release()
				final.Files = append(final.Files, again...)
				return final, werr
			}
			continue
		}
		release()
		if opt.OnLost != nil {
			opt.OnLost(err, len(again))
		}
		lost := err
		if own {
			c, err = budget.Retry(ctx, dial, opt.OnRetry)
		} else {
			c, err = dial(ctx) // a Session's: it waits while the session reconnects
		}
		if err != nil {
			final.Files = append(final.Files, again...)
			return final, fmt.Errorf("%w; %w", lost, err)
		}
	}
}

// pathsOf returns a test for the paths of files.
func pathsOf(files []transfer.FileReport) func(string) bool {
	set := make(map[string]bool, len(files))
	for _, f := range files {
		set[f.Path] = true
	}
	return func(p string) bool { return set[p] }
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// notSent reports every file of m as not sent because of err.
func notSent(rep *transfer.Report, m *transfer.Manifest, err error) {
	for _, f := range m.Files {
		if !f.Dir {
			rep.Files = append(rep.Files, transfer.FileReport{Path: f.Path, Size: f.Size, Status: transfer.NotSent, Err: "not sent: " + err.Error()})
		}
	}
}
