package mux

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// scriptedConn answers each Read with the next of its chunks (cut to the
// reader's buffer, the rest kept for the next Read), then with err.
type scriptedConn struct {
	net.Conn
	chunks [][]byte
	err    error
	reads  int
}

func (c *scriptedConn) Read(p []byte) (int, error) {
	c.reads++
	if len(c.chunks) == 0 {
		return 0, c.err
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func TestBatchConnReadsAhead(t *testing.T) {
	data := make([]byte, 3*readBuf+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, tt := range []struct {
		name   string
		chunks []int // what the kernel holds at each read
		step   int   // bytes TLS asks for at a time
		reads  int   // reads of the connection, the last (err) included
		err    error
	}{
		{"a record at a time from a full socket", []int{len(data)}, 16 << 10, 5, io.EOF},
		{"one byte at a time", []int{len(data)}, 1, 5, io.EOF},
		{"the kernel holds little at a time", []int{5000, 70000, 100, len(data) - 75100}, 16 << 10, 7, io.EOF},
		{"buffers at least readBuf long pass through", []int{len(data)}, readBuf, 5, io.EOF},
		{"a deadline comes back as it came", []int{len(data)}, 30 << 10, 5, os.ErrDeadlineExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sc := &scriptedConn{err: tt.err}
			off := 0
			for _, n := range tt.chunks {
				sc.chunks = append(sc.chunks, bytes.Clone(data[off:off+n]))
				off += n
			}
			c := &batchConn{Conn: sc}
			var got []byte
			buf := make([]byte, tt.step)
			var err error
			for err == nil {
				var n int
				n, err = c.Read(buf)
				got = append(got, buf[:n]...)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("ended with %v, want %v", err, tt.err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, not the %d written (or not in order)", len(got), len(data))
			}
			if sc.reads != tt.reads {
				t.Errorf("%d reads of the connection, want %d", sc.reads, tt.reads)
			}
			if c.in != nil {
				t.Errorf("holds a buffer of %d bytes after reading everything", len(*c.in)-c.off)
			}
		})
	}
}

// tcpPair returns the two ends of a TCP connection on loopback, closed
// when the test ends.
func tcpPair(t *testing.T) (conn, srv net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	srv, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return conn, srv
}

// TestBatchConnReadsSocketsWhenReady reads a real socket, which batchConn
// reads itself once it has bytes: what it returns, and how each way a
// read can end looks to the caller.
func TestBatchConnReadsSocketsWhenReady(t *testing.T) {
	data := make([]byte, 3*readBuf+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, tt := range []struct {
		name  string
		end   func(w, r net.Conn) // once every byte has been read
		check func(err error) bool
	}{
		{"the writer closes", func(w, r net.Conn) { w.Close() }, func(err error) bool { return err == io.EOF }},
		{"a read deadline passes", func(w, r net.Conn) { r.SetReadDeadline(time.Now()) }, func(err error) bool {
			var ne net.Error
			var oe *net.OpError
			return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout() &&
				errors.As(err, &oe) && oe.Op == "read"
		}},
		{"the reader is closed", func(w, r net.Conn) { r.Close() }, func(err error) bool { return errors.Is(err, net.ErrClosed) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, r := tcpPair(t)
			c := newBatchConn(&primedConn{Conn: r, first: []byte("muxfer ")})
			if c.sock == nil {
				t.Skip("no socket to read on this system")
			}
			go w.Write(data)
			want := append([]byte("muxfer "), data...)
			got := make([]byte, 0, len(want))
			buf := make([]byte, 16<<10)
			var err error
			for len(got) < len(want) && err == nil {
				var n int
				n, err = c.Read(buf)
				got = append(got, buf[:n]...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes (error %v), not the %d written (or not in order)", len(got), err, len(want))
			}
			go tt.end(w, r)
			for err == nil {
				_, err = c.Read(buf)
			}
			if !tt.check(err) {
				t.Errorf("ended with %#v (%v)", err, err)
			}
			if c.in != nil {
				t.Errorf("holds a buffer of %d bytes after the end", len(*c.in)-c.off)
			}
		})
	}
}
