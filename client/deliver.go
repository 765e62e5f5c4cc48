package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/muxfer/muxfer/transfer"
)

// DeliverOptions tune Deliver.
type DeliverOptions struct {
	transfer.SendOptions
	// Backoff spaces out the attempts to reconnect after the connection is
	// lost, and says when to give up.
	Backoff Backoff
	// NoReconnect makes a lost connection final, as with Upload.
	NoReconnect bool
	// OnRetry, if set, is called after each failed attempt to reconnect,
	// with its number, its error and the wait before the next.
	OnRetry func(attempt int, err error, wait time.Duration)
	// OnLost, if set, is called when the connection is lost and Deliver
	// is about to reconnect, with the reason and the files still to go.
	OnLost func(err error, files int)
}

// Deliver sends the files of m to the hub over a connection from dial,
// as Upload does, and finishes the job when the connection is lost: it
// dials again, waiting as opt.Backoff says, and offers again every file
// not yet delivered. Those resume where the hub holds them (a file the
// hub stored but could not confirm is confirmed, not stored twice).
//
// It returns when every file is delivered or has failed for a reason of
// its own, or when reconnecting gives up or ctx is done. The report lists
// each file once, with its last status. Deliver closes every connection
// it dials.
func Deliver(ctx context.Context, dial func(context.Context) (*Client, error), m *transfer.Manifest, opt DeliverOptions) (*transfer.Report, error) {
	start := time.Now()
	if opt.ResumeKey == nil {
		// One key for every attempt, so that each resumes the last.
		opt.ResumeKey = make([]byte, 32)
		rand.Read(opt.ResumeKey)
	}
	final := &transfer.Report{}
	defer func() { final.Elapsed = time.Since(start) }()
	c, err := dial(ctx)
	if err != nil {
		notSent(final, m, err)
		return final, err
	}
	left := m
	for {
		rep, err := c.Upload(ctx, left, opt.SendOptions)
		c.Close()
		final.Bytes += rep.Bytes
		final.Dirs = rep.Dirs
		var again []transfer.FileReport // lost with the connection
		for _, f := range rep.Files {
			if errors.Is(err, transfer.ErrConnectionLost) && (f.Status == transfer.Unconfirmed || f.Status == transfer.NotSent) {
				again = append(again, f)
			} else {
				final.Files = append(final.Files, f)
			}
		}
		if len(again) == 0 || opt.NoReconnect {
			final.Files = append(final.Files, again...)
			return final, err
		}
		if opt.OnLost != nil {
			opt.OnLost(err, len(again))
		}
		retry := make(map[string]bool, len(again))
		for _, f := range again {
			retry[f.Path] = true
		}
		left = m.Only(func(path string) bool { return retry[path] })
		lost := err
		if c, err = opt.Backoff.Retry(ctx, dial, opt.OnRetry); err != nil {
			final.Files = append(final.Files, again...)
			return final, fmt.Errorf("%w; %w", lost, err)
		}
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
