package transfer

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// pieceState joins, for each file of one transfer, the sender's own hash and
// the receiver's Result. A file is finished when both agree, or when either
// side reports an error.
type pieceState struct {
	caller     context.Context // the caller's: done once it gives up
	conn       Conn
	id         string
	m          *Manifest
	rep        *Report
	obs        Observer
	fileCtx    []context.Context
	fileCancel []context.CancelFunc
	hash       []string           // sender's hash, once sent
	from       []int64            // the offset each file's stream started at
	got        []*protocol.Result // receiver's result, once received
	done       []bool
	// cut is set by a file's sender before it closes the file's stream
	// (a failure of its own, or the file's end); reported, once its
	// outcome is in. A receiver that fails a file because its stream was
	// cut says only that: while the sender's own reason is on its way,
	// the receiver's error waits in early (see result).
	cut      []atomic.Bool
	reported []bool
	early    []*protocol.Result
	pending  int
	away     string // why the relayed recipient left, if it did
}

func newPieceState(caller context.Context, conn Conn, id string, m *Manifest, rep *Report, obs Observer) *pieceState {
	n := len(m.Files)
	st := &pieceState{caller: caller, conn: conn, id: id, m: m, rep: rep, obs: obs,
		fileCtx: make([]context.Context, n), fileCancel: make([]context.CancelFunc, n),
		hash: make([]string, n), from: make([]int64, n), got: make([]*protocol.Result, n), done: make([]bool, n),
		cut: make([]atomic.Bool, n), reported: make([]bool, n), early: make([]*protocol.Result, n)}
	for _, f := range m.Files {
		if !f.Dir {
			st.pending++
		}
	}
	return st
}

// sent records what a sending goroutine reports.
func (st *pieceState) sent(o outcome) {
	if st.done[o.idx] {
		return
	}
	st.reported[o.idx] = true
	if r := st.early[o.idx]; r != nil {
		if o.err != nil && statusOf(o.err) == Failed && !errors.Is(o.err, mux.ErrClosed) && !errors.Is(o.err, mux.ErrTimeout) &&
			!errors.Is(o.err, mux.ErrStreamRefused) {
			// The sender's own failure cut the stream: it is the cause.
			st.finish(o.idx, FileReport{Status: Failed, Err: o.err.Error()})
		} else {
			st.receiverFailed(*r)
		}
		return
	}
	if errors.Is(o.err, mux.ErrClosed) || errors.Is(o.err, mux.ErrTimeout) {
		// The session is gone (a stream that times out ends it): conn.Done
		// will close and lost reports the file with the others, as not
		// confirmed.
		return
	}
	if o.err != nil {
		if !o.opened || errors.Is(o.err, mux.ErrStreamRefused) {
			// No stream will come (a refused one never reached the
			// receiver): tell the receiver not to wait for one. (With a
			// stream, the receiver sees it end early and answers.)
			st.conn.Send(protocol.Result{Transfer: st.id, File: o.idx, Error: "sender: " + o.err.Error()})
		}
		st.finish(o.idx, FileReport{Status: statusOf(o.err), Err: o.err.Error()})
		return
	}
	st.hash[o.idx], st.from[o.idx] = o.hash, o.from
	if r := st.got[o.idx]; r != nil {
		st.verify(o.idx, *r)
	}
}

// result records the receiver's answer for one file.
func (st *pieceState) result(r protocol.Result) {
	if r.File < 0 || r.File >= len(st.m.Files) || st.m.Files[r.File].Dir || st.done[r.File] {
		return
	}
	if r.Error != "" && r.Code == protocol.CodeAway {
		// The recipient left: the file goes again when it is back.
		if st.away == "" {
			st.away = r.Error
		}
		st.finish(r.File, FileReport{Status: NotSent, Err: "receiver: " + r.Error})
		return
	}
	if r.Error != "" && st.cut[r.File].Load() && !st.reported[r.File] {
		// Most likely the receiver saw the stream end early because the
		// sender closed it: its outcome, which comes next, says why.
		st.early[r.File] = &r
		return
	}
	if r.Error != "" {
		st.receiverFailed(r)
		return
	}
	st.got[r.File] = &r
	if st.hash[r.File] != "" {
		st.verify(r.File, r)
	}
}

// receiverFailed finishes a file the receiver failed.
func (st *pieceState) receiverFailed(r protocol.Result) {
	st.fileCancel[r.File]() // stop sending bytes nobody keeps
	// Once the caller has given up, the receiver's error is most likely
	// the stream the sender aborted: the file was cancelled.
	status := Failed
	if st.caller.Err() != nil {
		status = Cancelled
	}
	st.finish(r.File, FileReport{Status: status, Err: "receiver: " + r.Error})
}

func (st *pieceState) verify(i int, r protocol.Result) {
	if r.Hash != st.hash[i] {
		st.finish(i, FileReport{Status: Failed, Err: fmt.Sprintf("hash mismatch: sent %s, receiver computed %s", st.hash[i], r.Hash)})
		return
	}
	st.finish(i, FileReport{Status: Delivered, Hash: r.Hash, Stored: r.Stored, Resumed: st.from[i]})
}

func (st *pieceState) finish(i int, fr FileReport) {
	st.done[i] = true
	st.pending--
	st.fileCancel[i]()
	f := st.m.Files[i]
	fr.Path, fr.Size = f.Path, st.m.sent(i)
	if fr.OK() {
		st.rep.Bytes += fr.Size
	}
	st.rep.Files = append(st.rep.Files, fr)
	if st.obs.Finished != nil {
		st.obs.Finished(fr)
	}
}

// lost finishes every file still open and returns an error naming the
// first of them.
func (st *pieceState) lost(base error) error {
	var first string
	var cut error // a file of unknown size that cannot be sent again
	n := 0
	for i, f := range st.m.Files {
		if !f.Dir && !st.done[i] {
			if n == 0 {
				first = f.Path
			}
			if cut == nil {
				cut = st.m.cut(i)
			}
			n++
		}
	}
	st.unfinished(base)
	var err error
	switch n {
	case 0:
		return base
	case 1:
		err = fmt.Errorf("%w while sending %s", base, first)
	default:
		err = fmt.Errorf("%w while sending %s and %d more", base, first, n-1)
	}
	if cut != nil {
		err = fmt.Errorf("%w; %w", err, cut)
	}
	return err
}

// unfinished marks every file still open as failed with err.
func (st *pieceState) unfinished(err error) {
	for i, f := range st.m.Files {
		if !f.Dir && !st.done[i] && st.early[i] != nil {
			st.receiverFailed(*st.early[i])
			continue
		}
		if !f.Dir && !st.done[i] {
			if cut := st.m.cut(i); cut != nil {
				// Not to be offered again: it would be sent short.
				st.finish(i, FileReport{Status: Failed, Err: err.Error() + ": " + cut.Error()})
				continue
			}
			if errors.Is(err, ErrRecipientAway) {
				// The recipient left: sending it again resumes it (or
				// confirms it, if it was stored as the link broke).
				st.finish(i, FileReport{Status: NotSent, Err: "not sent: " + err.Error()})
				continue
			}
			st.finish(i, FileReport{Status: Unconfirmed, Err: "not confirmed: " + err.Error()})
		}
	}
}

// addUnsent records every file of a transfer that never started.
func (r *Report) addUnsent(m *Manifest, err error) {
	for _, f := range m.Files {
		if !f.Dir {
			r.Files = append(r.Files, FileReport{Path: f.Path, Size: f.Size, Status: notSentStatus(err), Err: "not sent: " + err.Error()})
		}
	}
}

// statusOf is the status of a file that failed with err on the sender's
// side.
func statusOf(err error) string {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, mux.ErrAborted) {
		return Cancelled
	}
	return Failed
}

// notSentStatus is the status of a file that never started because of
// err.
func notSentStatus(err error) string {
	switch {
	case errors.Is(err, ErrConnectionLost), errors.Is(err, ErrTryAgain), errors.Is(err, ErrRecipientAway):
		return NotSent
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return Cancelled
	}
	return Failed
}
