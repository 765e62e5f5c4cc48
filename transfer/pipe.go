package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/muxfer/muxfer/protocol"
	"golang.org/x/time/rate"
)

// ErrNotRereadable is why a file read from a reader (FromReader) fails
// when its stream was cut: what was read of it is gone.
var ErrNotRereadable = errors.New("cannot be read again: send it again from the start")

// pipe is the source of a file of unknown size: a reader that can be
// read once.
type pipe struct {
	r     io.Reader
	shown string      // names the reader in errors: "standard input"
	used  atomic.Bool // reading began: the file cannot be sent again
	n     atomic.Int64
}

// FromReader returns a manifest of one regular file called name (a file
// name that CheckPath accepts), read from r until r ends: a pipe, whose
// size nobody knows before its end. It is offered with size
// protocol.UnknownSize and sent chunked as it is read, holding one
// buffer of it at a time; it is never resumed, and a stream cut once
// reading began fails it with ErrNotRereadable. shown names r in errors
// ("standard input"). A Read that blocks holds Send until it returns.
func FromReader(name, shown string, r io.Reader, mode uint32, mtime int64) *Manifest {
	m := &Manifest{pipes: map[string]*pipe{name: {r: r, shown: shown}}}
	m.add(shown, protocol.File{Path: name, Size: protocol.UnknownSize, Mode: mode, MTime: mtime})
	return m
}

// sent is the bytes of file i: its size, or what was read of a pipe.
func (m *Manifest) sent(i int) int64 {
	if p := m.pipes[m.Files[i].Path]; p != nil {
		return p.n.Load()
	}
	return m.Files[i].Size
}

// cut is the error for file i, whose stream did not finish, or nil if
// the file may be sent again.
func (m *Manifest) cut(i int) error {
	if p := m.pipes[m.Files[i].Path]; p != nil && p.used.Load() {
		return fmt.Errorf("%s %w", p.shown, ErrNotRereadable)
	}
	return nil
}

// sendPipe sends file idx from its pipe, chunked, as sendFile sends a
// file from disk. It reads nothing before the receiver acknowledges the
// stream, so that a refused stream can be tried again.
func sendPipe(ctx context.Context, slot *streamSlot, id string, idx int, f protocol.File, p *pipe, lim *rate.Limiter, wrote func(int)) (sum string, opened bool, err error) {
	if p.used.Load() {
		return "", false, fmt.Errorf("%s %w", p.shown, ErrNotRereadable)
	}
	st, err := slot.start(ctx, protocol.DataHeader{Transfer: id, File: idx})
	if err != nil {
		return "", false, err
	}
	defer func() {
		if err != nil {
			slot.close() // without the end chunk and trailer: the receiver fails the file
		}
	}()
	if err := st.Opened(ctx); err != nil {
		return "", true, err
	}
	p.used.Store(true)
	h, cw := newHash(), protocol.NewChunkWriter(st)
	count := &confirmedCount{st: st, wrote: wrote}
	buf := getBuf()
	defer putBuf(buf)
	for {
		if err := ctx.Err(); err != nil {
			// The receiver failed the file (its result ends ctx), or
			// the caller gave up: read no more of a reader that may
			// never end.
			return "", true, err
		}
		n, rerr := p.r.Read(*buf)
		if n > 0 {
			h.Write((*buf)[:n])
			p.n.Add(int64(n))
			if err := writeLimited(ctx, lim, cw, (*buf)[:n], count.add); err != nil {
				return "", true, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", true, fmt.Errorf("reading %s: %w", p.shown, rerr)
		}
	}
	if err := cw.Close(); err != nil {
		return "", true, err
	}
	sum = formatHash(h)
	if err := protocol.WriteTrailer(st, protocol.Trailer{Hash: sum}); err != nil {
		return "", true, err
	}
	count.flush()
	slot.detach()
	return sum, true, nil
}
