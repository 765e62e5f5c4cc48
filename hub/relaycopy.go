package hub

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/muxfer/muxfer/internal/datastream"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// relayBufSize is the copy buffer of a relayed stream: with the yamux
// windows of the two streams, all the hub holds of a relayed file at once.
const relayBufSize = 64 << 10

var relayBufs = sync.Pool{New: func() any { b := make([]byte, relayBufSize); return &b }}

// onward is the stream to a recipient that a sender's data stream is
// relayed onto: files of one data stream go on one stream to their
// recipient, as long as they are for the same recipient.
type onward struct {
	to *peer
	st *mux.Stream
}

// close ends the onward stream (after a trailer, the recipient reads a
// clean end; in mid-file, a cut file).
func (o *onward) close() {
	if o.st != nil {
		o.st.Close()
		o.st = nil
	}
}

// start writes the header h to r's recipient, on the onward stream if it
// goes there and can go on, or on a new one. The onward stream is bound to
// p.ctx for its whole life (mux.Session.OpenData): once p.ctx has ended,
// it is being aborted.
func (o *onward) start(p *peer, r *relay, h protocol.DataHeader) error {
	if o.st != nil && o.to == r.to && p.ctx.Err() == nil {
		if err := protocol.WriteHeader(o.st, h); err == nil {
			return nil
		}
	}
	o.close()
	st, err := r.to.sess.OpenData(p.ctx, h)
	if err != nil {
		return err
	}
	o.st, o.to = st, r.to
	return nil
}

// relayFile copies one file of a sender's data stream to its recipient:
// the header with the recipient's transfer id, exactly the bytes the
// header announces, and the trailer frame as it came. It reports whether
// the sender's stream may go on to its next file.
//
// When the recipient cannot take the file (it left, its stream broke),
// the sender gets a failed result for it, and the rest of the file is
// read and dropped so that the stream stays in step. When the sender's
// stream breaks, the onward stream is closed mid-file: the recipient
// fails the file and its result reaches the sender, if it is still there.
func (p *peer) relayFile(r *relay, h protocol.DataHeader, fs *datastream.Reader, o *onward) bool {
	if err := r.start(h.File); errors.Is(err, errRelayFailed) {
		// The sender has, or will have, a failed result for the file,
		// and closes the stream when it sees it.
		fs.Drain()
		return false
	} else if err != nil {
		p.refuse(protocol.CodeBadMessage, err.Error())
		return false
	}
	f := r.files[h.File]
	var chunks *protocol.ChunkReader // a file of unknown size comes chunked, from byte 0
	if f.Size == protocol.UnknownSize && h.Offset == 0 {
		chunks = protocol.NewChunkReader(fs)
	} else if h.Offset > f.Size {
		r.answer(h.File, protocol.Result{Error: fmt.Sprintf("%s: offset %d is past the end of the file", f.Path, h.Offset)})
		fs.Drain()
		return false
	}
	buf := relayBufs.Get().(*[]byte)
	defer relayBufs.Put(buf)
	left := max(f.Size-h.Offset, 0)
	err := o.start(p, r, protocol.DataHeader{Transfer: r.id, File: h.File, Offset: h.Offset})
	if err == nil {
		err = copyFile(o.st, fs, chunks, &left, *buf)
	}
	var cut *senderCut
	switch {
	case errors.As(err, &cut):
		o.close() // without a trailer: the recipient fails the file
		fs.Drain()
		return false
	case err != nil:
		o.close()
		res := protocol.Result{Error: fmt.Sprintf("%s: relaying to %s: %v", f.Path, r.to.name(), err)}
		if errors.Is(err, mux.ErrClosed) || r.to.hasLeft() {
			// The recipient may come back and take the rest.
			res.Error, res.Code = fmt.Sprintf("%s: %s left while receiving it", f.Path, r.to.name()), protocol.CodeAway
		}
		r.answer(h.File, res)
		if left < 0 {
			return true // only the trailer's write failed
		}
		// Read and drop the rest of the file and its trailer, so that
		// the stream can go on to the next file.
		if copyFile(io.Discard, fs, chunks, &left, *buf) != nil {
			fs.Drain()
			return false
		}
	}
	return true
}

// senderCut is an error reading the sender's stream.
type senderCut struct{ err error }

func (e *senderCut) Error() string { return "sender's stream: " + e.err.Error() }
func (e *senderCut) Unwrap() error { return e.err }

// copyFile copies *left bytes, or the chunks of a file of unknown size
// (chunks is not nil), and then a trailer frame from src to dst, through
// buf, counting *left down to 0 as bytes are read, and to -1 once the
// trailer is read. An error reading src is a *senderCut; others are
// dst's.
func copyFile(dst io.Writer, src *datastream.Reader, chunks *protocol.ChunkReader, left *int64, buf []byte) error {
	if chunks != nil && !chunks.Done() {
		if err := copyChunks(dst, chunks, buf); err != nil {
			return err
		}
	}
	for *left > 0 {
		k, err := src.Read(buf[:min(*left, int64(len(buf)))])
		if k > 0 {
			*left -= int64(k)
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return werr
			}
		}
		if err != nil && *left > 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return &senderCut{err}
		}
	}
	tr, err := protocol.ReadFrame(src, protocol.MaxHeaderFrame)
	if err != nil {
		return &senderCut{err}
	}
	*left = -1
	return protocol.WriteFrame(dst, tr)
}

// copyChunks copies the rest of a chunked file to dst, chunked again as
// it is read through buf, and its chunk of length 0.
func copyChunks(dst io.Writer, chunks *protocol.ChunkReader, buf []byte) error {
	for {
		k, err := chunks.Read(buf[4:])
		if k > 0 {
			binary.BigEndian.PutUint32(buf, uint32(k))
			if _, werr := dst.Write(buf[:4+k]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			_, werr := dst.Write([]byte{0, 0, 0, 0})
			return werr
		}
		if err != nil {
			return &senderCut{err}
		}
	}
}
