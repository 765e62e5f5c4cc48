package mux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
	"github.com/muxfer/muxfer/protocol"
)

// Send writes one control message. It is safe for concurrent use; a peer
// that does not read within the I/O timeout makes it fail. A message too
// large for a control frame (protocol.MaxControlFrame), which the peer
// would refuse, is not sent: Send returns an error wrapping
// protocol.ErrFrameTooLarge and the session goes on.
func (s *Session) Send(m protocol.Message) error {
	b, err := protocol.Encode(m)
	if err != nil {
		return err
	}
	return s.SendEncoded(b)
}

// SendEncoded is Send for a message already encoded by protocol.Encode:
// a hub encodes a message once for all the clients it goes to.
func (s *Session) SendEncoded(b []byte) error {
	if err := protocol.CheckControlFrame(b); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.ctrl.SetWriteDeadline(time.Now().Add(s.cfg.ioTimeout()))
	if err := protocol.WriteFrame(s.ctrl, b); err != nil {
		// Part of a frame may have gone out: the stream cannot be used.
		s.ys.Close()
		return s.streamErr(err)
	}
	return nil
}

// Recv reads the next control message. There is no deadline: an idle chat
// is normal, and yamux's keepalive ends a session whose peer is gone.
func (s *Session) Recv() (protocol.Message, error) {
	m, err := protocol.ReadMessage(s.ctrl)
	if err != nil {
		return nil, s.streamErr(err)
	}
	return m, nil
}

// OpenData opens a data stream and writes the header of its first file;
// the caller writes the header of each further file it carries. A session
// keeps at most protocol.MaxDataStreams of its own data streams open,
// whoever asks: OpenData waits for one to close (or for ctx) before
// opening another.
func (s *Session) OpenData(ctx context.Context, h protocol.DataHeader) (*Stream, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ys.CloseChan():
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		<-s.slots
		return nil, err
	}
	ys, err := s.ys.OpenStream()
	if err != nil {
		<-s.slots
		return nil, s.streamErr(err)
	}
	st := s.newStream(ys)
	st.opened = s.gate().take(ys.StreamID())
	st.release = func() { <-s.slots }
	st.stop = context.AfterFunc(ctx, st.abort)
	if err := protocol.WriteHeader(st, h); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func (s *Session) newStream(ys *yamux.Stream) *Stream {
	return &Stream{ys: ys, timeout: s.cfg.ioTimeout(), sess: s, stop: func() bool { return false }, release: func() {}}
}

// AcceptData waits for the peer to open a data stream. The caller reads its
// header with ReadHeader, in its own goroutine, so that one slow stream does
// not hold up the others.
func (s *Session) AcceptData(ctx context.Context) (*Stream, error) {
	ys, err := s.ys.AcceptStreamWithContext(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, s.streamErr(err)
	}
	return s.newStream(ys), nil
}

// Done is closed when the session ends.
func (s *Session) Done() <-chan struct{} { return s.ys.CloseChan() }

// RemoteAddr is the peer's network address.
func (s *Session) RemoteAddr() net.Addr { return s.nc.RemoteAddr() }

// Close ends the session and every stream in it. The peer's reads fail.
func (s *Session) Close() error {
	if s.clock != nil {
		s.clock.stop() // a hub's session closed before Ready: unhook the context
	}
	return s.ys.Close()
}

// Hangup ends the session so that what was sent last (an Error, a Bye)
// reaches the peer: it waits, up to the configured Linger, for the peer to
// close, and only then closes. Closing at once could make the kernel
// answer the peer's bytes in flight with a reset, and a reset can destroy
// the last message before the peer has read it. (A half-close does not
// help: yamux's next write on the half-closed connection fails and closes
// the session anyway.)
func (s *Session) Hangup() error {
	t := time.NewTimer(cmp(s.cfg.Linger, 2*time.Second))
	select {
	case <-s.ys.CloseChan():
	case <-t.C:
	}
	t.Stop()
	return s.Close()
}

// streamErr turns yamux's end-of-session errors into ErrClosed, so callers
// see one clear reason.
func (s *Session) streamErr(err error) error {
	switch {
	case errors.Is(err, yamux.ErrSessionShutdown), errors.Is(err, yamux.ErrConnectionReset),
		errors.Is(err, yamux.ErrStreamClosed), errors.Is(err, io.ErrClosedPipe):
		return ErrClosed
	case errors.Is(err, io.EOF) && s.ys.IsClosed():
		return ErrClosed
	case errors.Is(err, yamux.ErrTimeout):
		return fmt.Errorf("peer made no progress for %s: %w", s.cfg.ioTimeout(), ErrTimeout)
	case errors.Is(err, yamux.ErrKeepAliveTimeout):
		return fmt.Errorf("%w: the peer stopped answering keepalives", ErrClosed)
	case errors.Is(err, yamux.ErrConnectionWriteTimeout):
		return fmt.Errorf("%w: a write to the connection made no progress for %s", ErrClosed, s.cfg.ioTimeout())
	}
	// yamux hands a stream the error of its failed write to the
	// connection ("connection reset by peer", "broken pipe") before it
	// marks the session closed: that is the session ending too.
	var op *net.OpError
	if errors.As(err, &op) {
		return ErrClosed
	}
	return err
}

// ErrTimeout reports a stream that made no progress within the I/O timeout.
var ErrTimeout = errors.New("timed out")

// Stream is one data stream. Every Read and Write must make progress within
// the session's I/O timeout; one that does not fails with ErrTimeout and
// closes the whole session. A stream opened with OpenData is also bound to
// the context given there: once it is cancelled, Read and Write fail with
// ErrAborted.
type Stream struct {
	ys      *yamux.Stream
	opened  *opening // the peer's answer to a stream opened here; nil for one accepted
	sess    *Session
	timeout time.Duration
	stop    func() bool // unbinds the context
	release func()      // frees the session's slot, for streams opened here
	closed  sync.Once
	aborted atomic.Bool
}

// ErrAborted reports a stream whose context was cancelled, or one the
// peer opened and then reset.
var ErrAborted = errors.New("stream aborted")

// Abort makes pending and later Reads and Writes fail with ErrAborted,
// from any goroutine.
func (st *Stream) Abort() { st.abort() }

// abort makes pending and later I/O fail. It sets the flag before the
// deadline, and Read and Write check the flag after setting theirs, so
// neither can overwrite the expired deadline unnoticed.
func (st *Stream) abort() {
	st.aborted.Store(true)
	st.ys.SetDeadline(time.Unix(1, 0))
}

// Read reads file bytes. If the session ends, Read returns ErrClosed, never
// a clean io.EOF, so a cut connection cannot pass for the end of a file.
func (st *Stream) Read(p []byte) (int, error) {
	st.ys.SetReadDeadline(time.Now().Add(st.timeout))
	if st.aborted.Load() {
		return 0, ErrAborted
	}
	n, err := st.ys.Read(p)
	return n, st.err(err)
}

// Write writes file bytes, in frames of at most the session's DataFrame
// bytes, so that a control message never waits behind a large one.
func (st *Stream) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		st.ys.SetWriteDeadline(time.Now().Add(st.timeout))
		if st.aborted.Load() {
			return written, ErrAborted
		}
		frame := st.sess.cfg.DataFrame
		if frame <= 0 {
			frame = st.sess.pace.size()
		}
		n, err := st.ys.Write(p[:min(len(p), frame)])
		st.sess.pace.wrote(n, time.Now())
		written += n
		p = p[n:]
		if err != nil {
			return written, st.err(err)
		}
	}
	return written, nil
}

func (st *Stream) err(err error) error {
	switch {
	case err == nil || err == io.EOF && !st.sess.ys.IsClosed():
		return err
	case st.aborted.Load():
		return ErrAborted
	case errors.Is(err, yamux.ErrConnectionReset) && !st.sess.ys.IsClosed() && st.opened != nil:
		// The peer reset a stream opened here and the session goes on: it
		// refused the stream as it opened (see streams.go).
		return ErrStreamRefused
	case errors.Is(err, yamux.ErrConnectionReset) && !st.sess.ys.IsClosed():
		// The peer reset a stream it opened: it gave up on it (yamux
		// resets a stream whose close this side did not answer within
		// the I/O timeout). The stream is over; the session goes on.
		return ErrAborted
	}
	err = st.sess.streamErr(err)
	if errors.Is(err, ErrTimeout) {
		// No progress for the whole I/O timeout: the peer is stuck or the
		// link is dead, and keepalive would say so only later. End the
		// session now, so that both ends give up on it together and the
		// sender resumes over a new connection, rather than each file
		// failing on its own while the session limps on.
		st.sess.Close()
	}
	return err
}

// Opened waits until the peer has accepted a stream opened with OpenData,
// or refused it. It returns nil, ErrStreamRefused (the peer has too many
// open), ErrClosed (the session ended first) or ctx's error. Bytes written
// before the answer count only once it is nil: a sender that has written
// a whole file on a new stream asks before it takes the file as sent. A
// stream accepted with AcceptData has nothing to wait for.
func (st *Stream) Opened(ctx context.Context) error {
	if st.opened == nil {
		return nil
	}
	select {
	case <-st.opened.done:
		return st.opened.err
	case <-ctx.Done():
		// An answer that came too counts: a file's context ends when its
		// result arrives, and the answer is always read before that.
		select {
		case <-st.opened.done:
			return st.opened.err
		default:
			return ctx.Err()
		}
	}
}

// Acknowledged reports whether the peer has accepted a stream opened with
// OpenData (see Opened) by now, without waiting. A stream accepted with
// AcceptData is.
func (st *Stream) Acknowledged() bool {
	if st.opened == nil {
		return true
	}
	select {
	case <-st.opened.done:
		return st.opened.err == nil
	default:
		return false
	}
}

// ReadHeader reads the stream's header frame.
func (st *Stream) ReadHeader() (protocol.DataHeader, error) {
	return protocol.ReadHeader(st)
}

// Close closes the stream's sending side; the peer reads io.EOF after the
// bytes already written.
func (st *Stream) Close() error {
	var err error
	st.closed.Do(func() {
		st.stop()
		err = st.ys.Close()
		st.release()
	})
	return err
}

// Channel returns the stream as the connection of an end-to-end session
// (Call, Answer) on a channel the hub relays, or as one end of the hub's
// splice. A channel may be quiet for as long as the session on it is
// (that session has a keepalive of its own), so a read waits without a
// deadline unless one is set with SetDeadline or SetReadDeadline. A write
// that makes no progress for the I/O timeout fails, and so does any I/O
// past a deadline, with an error whose Timeout is true; unlike a file's
// stream, neither ends the session the channel is on. Close closes the
// channel's sending side, as Stream.Close does.
func (st *Stream) Channel() net.Conn {
	// Reading the header set a deadline, as every Stream.Read does: a
	// channel's reads have none.
	st.ys.SetReadDeadline(time.Time{})
	return &channel{st: st}
}

type channel struct {
	st  *Stream
	mu  sync.Mutex
	wdl time.Time // the write deadline set by the caller; zero for none
}

func (c *channel) Read(p []byte) (int, error) {
	if c.st.aborted.Load() {
		return 0, ErrAborted
	}
	n, err := c.st.ys.Read(p)
	return n, c.err(err)
}

// Write writes in frames of the session's data frame size, as Stream.Write
// does, so that a channel's bytes take turns with the connection's others.
func (c *channel) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		dl := time.Now().Add(c.st.timeout)
		c.mu.Lock()
		if !c.wdl.IsZero() && c.wdl.Before(dl) {
			dl = c.wdl
		}
		c.mu.Unlock()
		c.st.ys.SetWriteDeadline(dl)
		if c.st.aborted.Load() {
			return written, ErrAborted
		}
		frame := c.st.sess.cfg.DataFrame
		if frame <= 0 {
			frame = c.st.sess.pace.size()
		}
		n, err := c.st.ys.Write(p[:min(len(p), frame)])
		c.st.sess.pace.wrote(n, time.Now())
		written += n
		p = p[n:]
		if err != nil {
			return written, c.err(err)
		}
	}
	return written, nil
}

// errChannelTimeout is a channel's I/O past its deadline, or a write that
// made no progress for the I/O timeout.
var errChannelTimeout = fmt.Errorf("channel: %w", os.ErrDeadlineExceeded)

func (c *channel) err(err error) error {
	switch {
	case err == nil || err == io.EOF && !c.st.sess.ys.IsClosed():
		return err
	case c.st.aborted.Load():
		return ErrAborted
	case errors.Is(err, yamux.ErrTimeout):
		return errChannelTimeout
	case errors.Is(err, yamux.ErrConnectionReset) && !c.st.sess.ys.IsClosed():
		if c.st.opened != nil {
			return ErrStreamRefused
		}
		return ErrAborted
	}
	return c.st.sess.streamErr(err)
}

func (c *channel) Close() error         { return c.st.Close() }
func (c *channel) LocalAddr() net.Addr  { return c.st.ys.LocalAddr() }
func (c *channel) RemoteAddr() net.Addr { return c.st.ys.RemoteAddr() }

func (c *channel) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.st.ys.SetReadDeadline(t)
}

func (c *channel) SetReadDeadline(t time.Time) error { return c.st.ys.SetReadDeadline(t) }

func (c *channel) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	if !t.IsZero() {
		// A write waiting now wakes at t; the next sets its own.
		return c.st.ys.SetWriteDeadline(t)
	}
	return nil
}
