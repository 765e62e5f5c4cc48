package transfer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"time"

	"github.com/muxfer/muxfer/internal/fingerprint"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"golang.org/x/time/rate"
)

// Conn is the sender's view of a session: control messages out, data
// streams out, and the control messages that concern one transfer in.
//
// A Conn whose end may mean something else than a lost connection (an
// end-to-end link to a recipient who left, while the connection to the
// hub is up) has a method Ended() error that says so once Done is
// closed: an error wrapping ErrRecipientAway, or nil for a lost
// connection.
type Conn interface {
	Send(protocol.Message) error
	// OpenData opens a data stream and writes h, the header of its first
	// file, as mux.Session.OpenData does: it waits for ctx while the
	// session has as many streams open as it may, and once ctx ends the
	// stream is aborted (its Writes fail).
	OpenData(ctx context.Context, h protocol.DataHeader) (DataStream, error)
	// Subscribe delivers the Accept, Reject and Result messages of one
	// transfer until cancel is called.
	Subscribe(transfer string) (msgs <-chan protocol.Message, cancel func())
	// Done is closed when the session ends.
	Done() <-chan struct{}
}

// DataStream is a data stream opened by Conn.OpenData; a stream from
// mux.Session.OpenData is one. Send writes on it the files of one sending
// goroutine, one after another: the bytes and trailer of the file whose
// header opened it, then each next file's header, bytes and trailer.
type DataStream interface {
	io.WriteCloser
	// Opened waits until the peer has accepted the stream, or refused it
	// (mux.ErrStreamRefused), or ctx ends.
	Opened(ctx context.Context) error
	// Acknowledged reports whether the peer has accepted the stream by
	// now, without waiting.
	Acknowledged() bool
}

// Observer receives progress from Send. Any field may be nil. Wrote and
// Opened are called from the sending goroutines, concurrently.
type Observer struct {
	Started  func(files int, bytes int64) // once, before the first offer
	Opened   func(path string)            // a file started
	Wrote    func(n int)                  // n more bytes of some file sent
	Finished func(FileReport)             // a file verified or failed
	// Held reports the bytes of a file that the receiver held already
	// (a resume), once its stream is accepted: they count as done and
	// were not sent, so Wrote does not count them.
	Held func(n int64)
	// Resumed reports, for each file whose stream was opened, the offset
	// it started at: the bytes the receiver held already.
	Resumed func(path string, from int64)
}

// SendOptions tune Send.
type SendOptions struct {
	Parallel int // files in flight at once; default 4, at most protocol.MaxDataStreams
	Observer Observer
	// ResumeKey is the secret from which Send derives each file's resume
	// token (see ResumeToken). A later Send with the same key and the
	// same files continues each where the receiver holds it. Keep it
	// secret: the tokens let anyone who has them continue, or spoil, these
	// files. nil means a new random key, so that only this Send resumes.
	ResumeKey []byte
	// LimitRate caps the file bytes this Send writes to its data streams
	// at this many bytes a second, all streams together; 0 (or less)
	// means no limit. After a pause, up to 1/20 s of the rate goes at
	// once, so the average over any second stays within 5% of the limit.
	// Each Send has its own allowance: Sends running at once, or one
	// after another (as Deliver's attempts are), are limited separately.
	LimitRate int64
	// To, if set, is the name of another client of the hub: the hub
	// relays the files to it, and it stores them, rather than storing
	// them itself. That client answers the offer.
	To string
	// ToIdentity, with To, is the identity (an Ed25519 key in hex) the
	// sender expects To to have: the hub relays the offer only to a client
	// with that identity, and the send fails with a *KeyChangedError
	// otherwise, nothing of it sent.
	ToIdentity string
	// Get, if set, is the ID of the receiver's request that this Send
	// answers (protocol.Get): a hub sending files a client asked for
	// puts it in each offer.
	Get string
	// Hold, if set, makes the files a held transfer for the people it
	// names (protocol.HoldSpec): the hub keeps them for those people,
	// and the files are their sealed streams.
	Hold *protocol.HoldSpec
	// RefusedRetry is how long a file keeps trying again, with growing
	// pauses, while the receiver refuses its data streams because it has
	// too many open (mux.ErrStreamRefused: a hub busy with other clients'
	// streams), before the file fails with that error. Default
	// DefaultRefusedRetry.
	RefusedRetry time.Duration
}

// DefaultRefusedRetry is SendOptions.RefusedRetry's default.
const DefaultRefusedRetry = time.Minute

// FileReport is the outcome for one file.
type FileReport struct {
	Path    string `json:"path"`
	Size    int64  `json:"size"`
	Status  string `json:"status"`            // Delivered, Failed, Cancelled, Unconfirmed or NotSent
	Hash    string `json:"hash,omitempty"`    // verified by both ends
	Stored  string `json:"stored,omitempty"`  // the name the receiver gave it
	Resumed int64  `json:"resumed,omitempty"` // bytes the receiver held already, not sent again
	Err     string `json:"error,omitempty"`
}

// The status of a file in a Report.
const (
	Delivered = "delivered" // stored, and the hashes of both ends agree
	Failed    = "failed"    // refused or broken; Err says why
	Cancelled = "cancelled" // the caller gave up first
	// Unconfirmed: the connection ended after the file started and before
	// the receiver answered. It may have arrived; sending it again with
	// the same ResumeKey resumes or confirms it.
	Unconfirmed = "unconfirmed"
	// NotSent: the file never started, or the client it was relayed to
	// left before it was stored. Sending it again may succeed.
	NotSent = "not_sent"
)

// OK reports whether the file was delivered and verified.
func (r FileReport) OK() bool { return r.Status == Delivered }

// Report is the outcome of a Send.
type Report struct {
	Files   []FileReport
	Dirs    int
	Bytes   int64 // bytes of verified files
	Elapsed time.Duration
	// Moving is the part of Elapsed after the receiver's first answer:
	// the time the bytes took, without the wait for an offer's answer
	// (a person's /accept).
	Moving time.Duration
	// Accepted: the receiver accepted at least one offer of the Send.
	// For a relayed Send, the recipient was there and answered.
	Accepted bool
	answered time.Time // when the first offer was accepted
}

// Failed counts files that were not delivered and verified.
func (r *Report) Failed() int {
	n := 0
	for _, f := range r.Files {
		if !f.OK() {
			n++
		}
	}
	return n
}

// ErrTryAgain reports an offer that the receiver refused for now (an
// earlier transfer was still receiving one of its files): the files are
// NotSent, and the same offer may succeed in a moment.
var ErrTryAgain = errors.New("receiver busy")

// ErrRecipientAway reports a relayed Send (SendOptions.To) whose recipient
// is not connected: it was not there for the offer, or it left before
// storing some files, which are then NotSent. Sending them again when it
// is back resumes them where it holds them.
var ErrRecipientAway = errors.New("recipient not connected")

// KeyChangedError reports that a name does not have the identity pinned
// for it: the hub's client of that name proved another, or none. Nothing
// was sent to it.
type KeyChangedError struct {
	Name   string // the name
	Pinned string // the identity pinned for it, an Ed25519 key in hex
	Now    string // the identity the name has now, in hex; "" for none
}

func (e *KeyChangedError) Error() string {
	now := "no key at all"
	if fp := fingerprint.OfHex(e.Now); fp != "" {
		now = fp
	}
	return fmt.Sprintf("the key of %s has changed: pinned %s, now %s", e.Name, fingerprint.OfHex(e.Pinned), now)
}

// ErrConnectionLost reports a session that ended before every file was
// confirmed, or a hub that refused an offer because it is shutting down.
// Sending the files that are Unconfirmed or NotSent again, over a new
// connection and with the same ResumeKey, finishes the job.
var ErrConnectionLost = errors.New("connection lost")

// Send offers the manifest and sends every file, opt.Parallel at a time,
// each on its own data stream. It returns when the receiver has answered
// for every file. Files that failed are in the report; the error is for a
// transfer that could not go on at all (refused, connection lost,
// cancelled), and the report then says which files were not confirmed.
func Send(ctx context.Context, conn Conn, m *Manifest, opt SendOptions) (*Report, error) {
	start := time.Now()
	rep := &Report{}
	if opt.ResumeKey == nil {
		opt.ResumeKey = make([]byte, 32)
		rand.Read(opt.ResumeKey)
	}
	m = m.withTokens(opt.ResumeKey)
	files, bytes := m.Totals()
	if f := opt.Observer.Started; f != nil {
		f(files, bytes)
	}
	lim := newSendLimiter(opt.LimitRate) // one for every piece and stream
	var err error
	for _, piece := range m.split() {
		if err != nil {
			rep.addUnsent(piece, err)
			continue
		}
		err = sendPiece(ctx, conn, piece, opt, lim, rep)
	}
	rep.Elapsed = time.Since(start)
	if !rep.answered.IsZero() {
		rep.Moving = time.Since(rep.answered)
	}
	return rep, err
}

// outcome is what a sending goroutine reports for one file.
type outcome struct {
	idx    int
	hash   string
	from   int64 // the offset the stream started at
	opened bool  // a data stream was opened: the receiver answers for the file
	err    error
}

func sendPiece(ctx context.Context, conn Conn, m *Manifest, opt SendOptions, lim *rate.Limiter, rep *Report) error {
	id := newTransferID()
	msgs, unsubscribe := conn.Subscribe(id)
	defer unsubscribe()
	if err := conn.Send(protocol.Offer{Transfer: id, To: opt.To, ToIdentity: opt.ToIdentity, Get: opt.Get, Hold: opt.Hold, Files: m.Files}); err != nil {
		if errors.Is(err, mux.ErrClosed) {
			err = ended(conn)
		}
		rep.addUnsent(m, err)
		return err
	}
	acc, err := awaitAccept(ctx, conn, msgs)
	var changed *KeyChangedError
	if errors.As(err, &changed) {
		changed.Name, changed.Pinned = opt.To, opt.ToIdentity
	}
	if err != nil {
		if ctx.Err() != nil {
			// Given up before the answer: say so for every file, so that
			// the receiver (a person yet to answer a relayed offer) does
			// not wait for them.
			withdraw(conn, id, m)
		}
		rep.addUnsent(m, err)
		return err
	}
	rep.Accepted = true
	if rep.answered.IsZero() {
		rep.answered = time.Now()
	}
	have := make([]*protocol.Have, len(m.Files))
	for _, h := range acc.Have {
		if h.File >= 0 && h.File < len(m.Files) && h.Offset > 0 && h.Offset <= m.Files[h.File].Size {
			have[h.File] = &h
		}
	}

	caller := ctx
	stopped := caller.Done() // the caller gave up
	ctx, cancel := context.WithCancel(ctx)
	st := newPieceState(caller, conn, id, m, rep, opt.Observer)
	jobs := make(chan int, len(m.Files))
	for i, f := range m.Files {
		if f.Dir {
			rep.Dirs++
			continue
		}
		st.fileCtx[i], st.fileCancel[i] = context.WithCancel(ctx)
		jobs <- i
	}
	close(jobs)
	done := make(chan outcome, len(m.Files))
	n := opt.Parallel
	if n <= 0 {
		n = 4
	}
	n = min(n, protocol.MaxDataStreams)
	workers := make(chan struct{}, n)
	for range n {
		go func() {
			defer func() { workers <- struct{}{} }()
			slot := &streamSlot{conn: conn}
			defer slot.close()
			for i := range jobs {
				if err := st.fileCtx[i].Err(); err != nil {
					done <- outcome{idx: i, err: err} // cancelled before it started
					continue
				}
				if f := opt.Observer.Opened; f != nil {
					f(m.Files[i].Path)
				}
				slot.closing = func() { st.cut[i].Store(true) }
				h, from, opened, err := sendRetrying(st.fileCtx[i], opt.RefusedRetry, func() (string, int64, bool, error) {
					if p := m.pipes[m.Files[i].Path]; p != nil {
						sum, opened, err := sendPipe(st.fileCtx[i], slot, id, i, m.Files[i], p, lim, opt.Observer.Wrote)
						return sum, 0, opened, err
					}
					return sendFile(st.fileCtx[i], slot, id, i, m.Files[i], m.source(i), have[i], lim, opt.Observer)
				})
				if f := opt.Observer.Resumed; f != nil && opened {
					f(m.Files[i].Path, from)
				}
				done <- outcome{i, h, from, opened, err}
			}
		}()
	}
	defer func() {
		cancel()
		for range n {
			<-workers
		}
	}()

	// Once the caller gives up, the workers report every file quickly (as
	// cancelled, or aborted mid-stream), and sent tells the receiver about
	// those that never got a stream, so it does not wait for them.
	for st.pending > 0 {
		select {
		case o := <-done:
			st.sent(o)
		case msg := <-msgs:
			if r, ok := msg.(protocol.Result); ok {
				st.result(r)
			}
		case <-conn.Done():
			// Results that arrived before the end are waiting: count
			// them, so that a file confirmed is never reported lost.
			for {
				select {
				case msg := <-msgs:
					if r, ok := msg.(protocol.Result); ok {
						st.result(r)
					}
					continue
				default:
				}
				break
			}
			return st.lost(ended(conn))
		case <-stopped:
			stopped = nil
			cancel()
		}
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if st.away != "" {
		return fmt.Errorf("%w: %s", ErrRecipientAway, st.away)
	}
	return nil
}

// withdraw cancels every regular file of the offer id, as a sender
// cancels a file it will not send.
func withdraw(conn Conn, id string, m *Manifest) {
	for i, f := range m.Files {
		if !f.Dir {
			if conn.Send(protocol.Result{Transfer: id, File: i, Error: "sender: cancelled before the offer was answered"}) != nil {
				return
			}
		}
	}
}

func awaitAccept(ctx context.Context, conn Conn, msgs <-chan protocol.Message) (protocol.Accept, error) {
	for {
		select {
		case msg := <-msgs:
			switch msg := msg.(type) {
			case protocol.Accept:
				return msg, nil
			case protocol.Reject:
				switch msg.Code {
				case protocol.CodeShutdown:
					return protocol.Accept{}, fmt.Errorf("%w: %s", ErrConnectionLost, msg.Reason)
				case protocol.CodeBusy:
					return protocol.Accept{}, fmt.Errorf("%w: %s", ErrTryAgain, msg.Reason)
				case protocol.CodeAway:
					return protocol.Accept{}, fmt.Errorf("%w: %s", ErrRecipientAway, msg.Reason)
				case protocol.CodeIdentity:
					return protocol.Accept{}, &KeyChangedError{Now: msg.Identity}
				}
				return protocol.Accept{}, fmt.Errorf("transfer refused: %s", msg.Reason)
			}
		case <-conn.Done():
			return protocol.Accept{}, ended(conn)
		case <-ctx.Done():
			return protocol.Accept{}, ctx.Err()
		}
	}
}

// sendFile streams one file and returns the hash of the whole file, the
// offset it started from, and whether it opened a stream. When the
// receiver has some of the file (have), it hashes the same prefix of its
// own copy and starts after it if the hashes agree. It refuses to finish a
// file that changed since it was offered: the stream then ends without a
// trailer, and the receiver discards what it got. File bytes go through
// lim, shared by every stream of the Send (nil: no limit). A small file
// goes in one write (sendSmall); a larger one is read ahead as it is sent.
func sendFile(ctx context.Context, slot *streamSlot, id string, idx int, f protocol.File, file fileSource, have *protocol.Have, lim *rate.Limiter, obs Observer) (sum string, from int64, opened bool, err error) {
	if f.Size <= smallFile {
		return sendSmall(ctx, slot, id, idx, f, file, have, lim, obs)
	}
	src, err := file.open()
	if err != nil {
		return "", 0, false, err
	}
	defer src.Close()
	if err := unchanged(src, f); err != nil {
		return "", 0, false, err
	}
	h := newHash()
	if have != nil {
		if from, err = resumeFrom(src, h, *have); err != nil {
			return "", 0, false, fmt.Errorf("%s: %w", file.path, err)
		}
	}
	st, err := slot.start(ctx, protocol.DataHeader{Transfer: id, File: idx, Offset: from})
	if err != nil {
		return "", from, false, err
	}
	defer func() {
		if err != nil {
			// Ended without its trailer: the stream is out of step, and
			// closing it is how the receiver learns that the file failed.
			slot.close()
		}
	}()
	count := &confirmedCount{st: st, wrote: obs.Wrote, held: obs.Held, from: from}
	ra := startReadAhead(src, h, f.Size-from)
	defer ra.close()
	for {
		buf, n, ok, err := ra.next()
		if err != nil {
			return "", from, true, err
		}
		if !ok {
			break
		}
		err = writeLimited(ctx, lim, st, (*buf)[:n], count.add)
		putBuf(buf)
		if err != nil {
			return "", from, true, err
		}
	}
	if err := unchanged(src, f); err != nil {
		return "", from, true, err
	}
	sum = formatHash(h)
	if err := protocol.WriteTrailer(st, protocol.Trailer{Hash: sum}); err != nil {
		return "", from, true, err
	}
	if err := st.Opened(ctx); err != nil { // a stream the receiver refused carried nothing
		return "", from, true, err
	}
	count.flush()
	slot.detach() // written: the file's result, when it comes, must not end the stream
	return sum, from, true, nil
}

// sendRetrying calls send until it does not fail with
// mux.ErrStreamRefused, pausing between calls (from 50 ms, doubling, up to
// 2 s, with jitter), for at most wait (0: DefaultRefusedRetry) or until
// ctx ends. It returns send's last results.
func sendRetrying(ctx context.Context, wait time.Duration, send func() (string, int64, bool, error)) (string, int64, bool, error) {
	if wait <= 0 {
		wait = DefaultRefusedRetry
	}
	give := time.Now().Add(wait)
	pause := 50 * time.Millisecond
	for {
		h, from, opened, err := send()
		if !errors.Is(err, mux.ErrStreamRefused) || !time.Now().Add(pause).Before(give) {
			return h, from, opened, err
		}
		t := time.NewTimer(pause/2 + mrand.N(pause))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return h, from, opened, err
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// confirmedCount passes the bytes written on st to wrote, and those the
// receiver held already (from) to held, only once the receiver has
// accepted st (DataStream.Acknowledged): until then it holds them back,
// and flush passes them on. A stream the receiver refuses carried
// nothing, and its file is sent again: its bytes must not count twice.
type confirmedCount struct {
	st      DataStream
	wrote   func(int)
	held    func(int64)
	from    int64 // not yet passed to held
	pending int64
}

func (c *confirmedCount) add(n int) {
	if c.pending += int64(n); c.st.Acknowledged() {
		c.flush()
	}
}

func (c *confirmedCount) flush() {
	if c.from > 0 && c.held != nil {
		c.held(c.from)
	}
	c.from = 0
	for c.wrote != nil && c.pending > 0 {
		n := min(c.pending, 1<<30) // int may have 32 bits
		c.wrote(int(n))
		c.pending -= n
	}
}

// resumeFrom hashes the first have.Offset bytes of src into h. If they
// hash as the receiver's do, it returns have.Offset, with src and h
// positioned after them; otherwise 0, with both back at the start.
func resumeFrom(src *os.File, h *fileHash, have protocol.Have) (int64, error) {
	if err := readPrefix(h, src, have.Offset); err != nil {
		return 0, err
	}
	if formatHash(h) == have.Hash {
		return have.Offset, nil
	}
	h.Reset()
	_, err := src.Seek(0, io.SeekStart)
	return 0, err
}

// unchanged reports an error if the open file no longer has the size and
// modification time that were offered.
func unchanged(f *os.File, want protocol.File) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() != want.Size || info.ModTime().UnixNano() != want.MTime {
		return errChanged(f.Name())
	}
	return nil
}

func newTransferID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ended returns why conn's Done is closed: ErrConnectionLost, unless conn
// says otherwise (see Conn).
func ended(conn Conn) error {
	if e, ok := conn.(interface{ Ended() error }); ok {
		if err := e.Ended(); err != nil {
			return err
		}
	}
	return ErrConnectionLost
}
