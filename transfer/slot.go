package transfer

import (
	"context"
	"errors"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// streamSlot holds a sending goroutine's data stream from one file to the
// next: a stream carries files one after another (see internal/datastream),
// which spares each file a stream's opening, acknowledgement and close, and
// the receiver a stream's buffers.
//
// While the stream carries a file, the end of that file's context (its
// result came, or Send was cancelled) aborts the stream; between files,
// nothing does. Conn.OpenData binds a stream to the context it is given
// for the stream's whole life, so the slot gives it a context of its own,
// which it ends (abort) when the current file's context ends: bind moves
// that binding from one file's context to the next one's, and detach
// lifts it once a file is written.
type streamSlot struct {
	conn   Conn
	st     DataStream
	abort  context.CancelFunc // ends the context st was opened with, which aborts st
	unbind func() bool        // lifts the binding; false if the file's context ended and st is aborted
	// closing, if set, is told before the stream is closed: a file cut
	// short by it fails at the receiver, which says so (pieceState.cut).
	closing func()
}

// start begins the file of header h, bound to ctx, on the slot's stream,
// or on a new one if there is none or it cannot go on.
func (s *streamSlot) start(ctx context.Context, h protocol.DataHeader) (DataStream, error) {
	if s.st != nil {
		err := s.bind(ctx)
		if err == nil {
			err = protocol.WriteHeader(s.st, h)
		}
		if err == nil {
			return s.st, nil
		}
		s.close()
	}
	if err := s.open(ctx, h); err != nil {
		return nil, err
	}
	return s.st, nil
}

// startWith is start for a caller that has the file's whole frame
// sequence, header first (its first head bytes), in b. It returns the
// stream and what is left to write on it: all of b on the slot's stream,
// bound to ctx, or what follows the header on a new stream, which writes
// the header itself.
func (s *streamSlot) startWith(ctx context.Context, h protocol.DataHeader, b []byte, head int) (DataStream, []byte, error) {
	if s.st != nil {
		if err := s.bind(ctx); err == nil {
			return s.st, b, nil
		}
		s.close()
	}
	if err := s.open(ctx, h); err != nil {
		return nil, nil, err
	}
	return s.st, b[head:], nil
}

// open opens the slot's stream with the header h of its first file, bound
// to ctx.
func (s *streamSlot) open(ctx context.Context, h protocol.DataHeader) error {
	if err := ctx.Err(); err != nil {
		// The stream's own context hears of ctx's end only a moment
		// later: open no stream for a file that is over.
		return err
	}
	own, abort := context.WithCancel(context.WithoutCancel(ctx))
	unbind := context.AfterFunc(ctx, abort)
	st, err := s.conn.OpenData(own, h)
	if err != nil {
		unbind()
		abort()
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			err = ctx.Err() // why ctx ended (a deadline, say), not that own did
		}
		return err
	}
	s.st, s.abort, s.unbind = st, abort, unbind
	return nil
}

// bind binds the slot's stream to ctx, the context of the next file it
// carries, once the last one is written (detach). A stream that was
// aborted cannot be bound: bind fails with mux.ErrAborted.
func (s *streamSlot) bind(ctx context.Context) error {
	if !s.unbind() {
		return mux.ErrAborted // the earlier file's context ended: its abort has begun
	}
	s.unbind = context.AfterFunc(ctx, s.abort)
	return nil
}

// detach lifts the binding of the slot's stream to its file's context:
// the file is written, and the end of its context (its result came) must
// not abort the stream before the next file.
func (s *streamSlot) detach() {
	ok := s.unbind()
	s.unbind = func() bool { return ok }
}

// close closes the slot's stream, if any.
func (s *streamSlot) close() {
	if s.st != nil {
		if s.closing != nil {
			s.closing()
		}
		s.unbind()
		s.st.Close()
		s.abort() // frees the stream's own context; closed, the stream is past aborting
		s.st = nil
	}
}
