package client

import (
	"context"
	"errors"
	"sync"
)

// List returns what the hub lets the session read at path, as
// Client.List; while the session reconnects it waits for the connection.
func (s *Session) List(ctx context.Context, path string, recursive bool) (list []Entry, err error) {
	err = s.retried(ctx, func(c *Client) error {
		list, err = c.List(ctx, path, recursive)
		return err
	})
	return list, err
}

// Get downloads paths from the hub into dir, as Client.Get does, and
// returns when every file has arrived verified or failed. A connection
// lost on the way is waited for (unless the session does not reconnect),
// and the same Get is made again on the next, which resumes each file
// where dir holds it.
//
// Its progress comes as events: GetOffered for each offer of the hub's,
// Progress and FileDone for each file, and last GetDone, all with the
// same Get number.
func (s *Session) Get(ctx context.Context, dir string, paths []string, opt GetOptions) (*GetReport, error) {
	n, err := s.begin(&s.nextGet)
	if err != nil {
		return &GetReport{}, err
	}
	defer s.sending.Done()
	var mu sync.Mutex
	attempt, offered := 0, false // the attempt, and whether the hub has offered anything in it
	opt.Offered = func(files []File) {
		o := Offer{Files: files}
		f, d, b := o.Totals()
		mu.Lock()
		again := attempt > 1 && !offered
		offered = true
		mu.Unlock()
		s.events.push(GetOffered{Get: n, Files: f, Folders: d, Bytes: b, Again: again})
	}
	opt.Wrote = func(_ string, k int) { s.events.push(Progress{Get: n, Bytes: int64(k)}) }
	opt.Finished = func(r FileReport) {
		if r.Resumed > 0 {
			s.events.push(Progress{Get: n, Held: r.Resumed})
		}
		s.events.push(FileDone{Get: n, Report: r})
	}
	var rep *GetReport
	var c *Client
	for {
		if c, err = s.connAfter(ctx, c); err != nil {
			if rep == nil {
				rep = &GetReport{}
			}
			break
		}
		mu.Lock()
		attempt, offered = attempt+1, false
		mu.Unlock()
		rep, err = c.Get(ctx, dir, paths, opt)
		if !errors.Is(err, ErrConnectionLost) || s.cfg.NoReconnect {
			break
		}
	}
	s.events.push(GetDone{Get: n, Report: rep, Err: err})
	return rep, err
}
