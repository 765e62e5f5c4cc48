package mux

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
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
