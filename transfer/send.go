package transfer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// Conn is the sender's view of a session: control messages out, data
// streams out, and the control messages that concern one transfer in.
type Conn interface {
	Send(protocol.Message) error
	OpenData(ctx context.Context, h protocol.DataHeader) (*mux.Stream, error)
	// Subscribe delivers the Accept, Reject and Result messages of one
	// transfer until cancel is called.
	Subscribe(transfer string) (msgs <-chan protocol.Message, cancel func())
	// Done is closed when the session ends.
	Done() <-chan struct{}
}

// Observer receives progress from Send. Any field may be nil. Wrote and
// Opened are called from the sending goroutines, concurrently.
type Observer struct {
	Started  func(files int, bytes int64) // once, before the first offer
	Opened   func(path string)            // a file started
	Wrote    func(n int)                  // n more bytes of some file sent
	Finished func(FileReport)             // a file verified or failed
}

// SendOptions tune Send.
type SendOptions struct {
	Parallel int // files in flight at once; default 4, at most protocol.MaxDataStreams
	Observer Observer
}

// FileReport is the outcome for one file.
type FileReport struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Hash   string `json:"hash,omitempty"`   // verified by both ends
	Stored string `json:"stored,omitempty"` // the name the receiver gave it
	Err    string `json:"error,omitempty"`
}

// OK reports whether the file was delivered and verified.
func (r FileReport) OK() bool { return r.Err == "" && r.Hash != "" }

// Report is the outcome of a Send.
type Report struct {
	Files   []FileReport
	Dirs    int
	Bytes   int64 // bytes of verified files
	Elapsed time.Duration
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

// ErrConnectionLost reports a session that ended before every file was
// confirmed.
var ErrConnectionLost = errors.New("connection lost")

// Send offers the manifest and sends every file, opt.Parallel at a time,
// each on its own data stream. It returns when the receiver has answered
// for every file. Files that failed are in the report; the error is for a
// transfer that could not go on at all (refused, connection lost,
// cancelled), and the report then says which files were not confirmed.
func Send(ctx context.Context, conn Conn, m *Manifest, opt SendOptions) (*Report, error) {
	start := time.Now()
	rep := &Report{}
	files, bytes := m.Totals()
	if f := opt.Observer.Started; f != nil {
		f(files, bytes)
	}
	var err error
	for _, piece := range m.split() {
		if err != nil {
			rep.addUnsent(piece, err)
			continue
		}
		err = sendPiece(ctx, conn, piece, opt, rep)
	}
	rep.Elapsed = time.Since(start)
	return rep, err
}

// outcome is what a sending goroutine reports for one file.
type outcome struct {
	idx    int
	hash   string
	opened bool // a data stream was opened: the receiver answers for the file
	err    error
}

func sendPiece(ctx context.Context, conn Conn, m *Manifest, opt SendOptions, rep *Report) error {
	id := newTransferID()
	msgs, unsubscribe := conn.Subscribe(id)
	defer unsubscribe()
	if err := conn.Send(protocol.Offer{Transfer: id, Files: m.Files}); err != nil {
		if errors.Is(err, mux.ErrClosed) {
			err = ErrConnectionLost
		}
		rep.addUnsent(m, err)
		return err
	}
	if err := awaitAccept(ctx, conn, msgs); err != nil {
		rep.addUnsent(m, err)
		return err
	}

	stopped := ctx.Done() // the caller gave up
	ctx, cancel := context.WithCancel(ctx)
	st := newPieceState(conn, id, m, rep, opt.Observer)
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
			for i := range jobs {
				if err := st.fileCtx[i].Err(); err != nil {
					done <- outcome{idx: i, err: err} // cancelled before it started
					continue
				}
				if f := opt.Observer.Opened; f != nil {
					f(m.Files[i].Path)
				}
				h, opened, err := sendFile(st.fileCtx[i], conn, id, i, m.Files[i], m.Local[i], opt.Observer.Wrote)
				done <- outcome{i, h, opened, err}
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
			return st.lost()
		case <-stopped:
			stopped = nil
			cancel()
		}
	}
	return context.Cause(ctx)
}

func awaitAccept(ctx context.Context, conn Conn, msgs <-chan protocol.Message) error {
	for {
		select {
		case msg := <-msgs:
			switch msg := msg.(type) {
			case protocol.Accept:
				return nil
			case protocol.Reject:
				return fmt.Errorf("transfer refused: %s", msg.Reason)
			}
		case <-conn.Done():
			return ErrConnectionLost
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sendFile streams one file and returns the hash of the bytes it sent, and
// whether it opened a stream. It refuses to finish a file that changed
// since it was offered: the stream then ends without a trailer, and the
// receiver discards what it got.
func sendFile(ctx context.Context, conn Conn, id string, idx int, f protocol.File, local string, wrote func(int)) (sum string, opened bool, err error) {
	src, err := os.Open(local)
	if err != nil {
		return "", false, err
	}
	defer src.Close()
	if err := unchanged(src, f); err != nil {
		return "", false, err
	}
	st, err := conn.OpenData(ctx, protocol.DataHeader{Transfer: id, File: idx})
	if err != nil {
		return "", false, err
	}
	defer st.Close()
	h := newHash()
	buf := getBuf()
	defer putBuf(buf)
	for left := f.Size; left > 0; {
		n, err := io.ReadFull(src, (*buf)[:min(left, int64(len(*buf)))])
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("%s shrank while being sent", local)
			}
			return "", true, err
		}
		h.Write((*buf)[:n])
		if _, err := st.Write((*buf)[:n]); err != nil {
			return "", true, err
		}
		left -= int64(n)
		if wrote != nil {
			wrote(n)
		}
	}
	if err := unchanged(src, f); err != nil {
		return "", true, err
	}
	sum = formatHash(h)
	if err := protocol.WriteTrailer(st, protocol.Trailer{Hash: sum}); err != nil {
		return "", true, err
	}
	return sum, true, nil
}

// unchanged reports an error if the open file no longer has the size and
// modification time that were offered.
func unchanged(f *os.File, want protocol.File) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() != want.Size || info.ModTime().UnixNano() != want.MTime {
		return fmt.Errorf("%s changed while being sent", f.Name())
	}
	return nil
}

func newTransferID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
