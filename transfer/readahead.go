package transfer

import (
	"io"
	"os"
)

// A file's sender reads and hashes a buffer, then writes it to the stream,
// whose Write returns once yamux has copied the frame: each step waited
// for the other. readAhead reads and hashes from a goroutine of its own,
// up to readAheadBufs buffers ahead, so that reading the disk overlaps
// with sending. Files of at most one buffer are read inline: a goroutine
// would cost them more than it saves.

// readAheadBufs is how many buffers the reader may fill before the
// sender takes them.
const readAheadBufs = 2

type chunk struct {
	buf *[]byte
	n   int
	err error
}

// readAhead reads the next n bytes of src, hashing them into h.
type readAhead struct {
	chunks chan chunk
	stop   chan struct{}
	done   chan struct{}
}

func startReadAhead(src *os.File, h *fileHash, n int64) *readAhead {
	ra := &readAhead{chunks: make(chan chunk, readAheadBufs), stop: make(chan struct{}), done: make(chan struct{})}
	if n <= bufSize {
		ra.read(src, h, n) // one chunk at most: it fits in the channel
	} else {
		go ra.read(src, h, n)
	}
	return ra
}

func (ra *readAhead) read(src *os.File, h *fileHash, n int64) {
	defer close(ra.done)
	defer close(ra.chunks)
	for left := n; left > 0; {
		buf := getBuf()
		k, err := io.ReadFull(src, (*buf)[:min(left, int64(len(*buf)))])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = errShrank(src.Name())
		}
		if err != nil {
			k = 0 // the file is wrong: none of it is sent
		}
		h.Write((*buf)[:k])
		left -= int64(k)
		select {
		case ra.chunks <- chunk{buf, k, err}:
		case <-ra.stop:
			putBuf(buf)
			return
		}
		if err != nil {
			return
		}
	}
}

// next returns the next buffer and its byte count, to be given back with
// putBuf; ok is false after the last. The hash covers every byte returned
// once next has returned !ok.
func (ra *readAhead) next() (buf *[]byte, n int, ok bool, err error) {
	c, ok := <-ra.chunks
	return c.buf, c.n, ok && c.err == nil, c.err
}

// close stops the reader and waits for it, giving back its buffers.
func (ra *readAhead) close() {
	close(ra.stop)
	for c := range ra.chunks {
		putBuf(c.buf)
	}
	<-ra.done
}
