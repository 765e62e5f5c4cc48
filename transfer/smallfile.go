package transfer

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/muxfer/muxfer/protocol"
	"golang.org/x/time/rate"
)

// smallFile is the size up to which a file is read whole and its header,
// bytes and trailer go to its stream in one write: one hand-off to yamux,
// one frame and one wake-up of the receiver instead of three of each. For
// 5,000 files of 4 KiB the hand-offs were a large part of the time.
const smallFile = 64 << 10

// frameRoom is the room kept in front of a small file's bytes for its
// header frame, and behind them for its trailer frame: as much as a
// receiver accepts (a real one is about a hundred bytes).
const frameRoom = 4 + protocol.MaxHeaderFrame

// A small file and both its frames fit in one buffer of the pool.
var _ [bufSize - 2*frameRoom - smallFile]struct{} // fails to compile otherwise

// sendSmall sends file idx of transfer id, at most smallFile bytes, in
// one write: it reads the whole file straight into a buffer of the pool,
// with room in front for the header, and puts the trailer behind it. When
// the receiver holds a prefix (have) whose hash agrees, only the rest is
// sent. It returns what sendFile does.
func sendSmall(ctx context.Context, slot *streamSlot, id string, idx int, f protocol.File, src fileSource, have *protocol.Have, lim *rate.Limiter, obs Observer) (sum string, from int64, opened bool, err error) {
	buf := getBuf()
	defer putBuf(buf)
	end := frameRoom + int(f.Size)
	data := (*buf)[frameRoom:end]
	read := readSmall
	if src.root != nil {
		read = src.readSmall
	}
	if err := read(src.path, f, data); err != nil {
		return "", 0, false, err
	}
	if have != nil && hashOfBytes(data[:have.Offset]) == have.Hash {
		from = have.Offset
	}
	sum = hashOfBytes(data)

	hdr := protocol.DataHeader{Transfer: id, File: idx, Offset: from}
	var frames bytes.Buffer
	protocol.WriteHeader(&frames, hdr)
	head := frames.Len()
	start := frameRoom + int(from) - head
	copy((*buf)[start:], frames.Bytes())
	frames.Reset()
	protocol.WriteTrailer(&frames, protocol.Trailer{Hash: sum})
	end += copy((*buf)[end:], frames.Bytes())

	st, whole, err := slot.startWith(ctx, hdr, (*buf)[start:end], head)
	if err != nil {
		return "", from, false, err
	}
	if err := writeLimited(ctx, lim, st, whole, nil); err != nil {
		slot.close() // without its trailer: see sendFile
		return "", from, true, err
	}
	if err := st.Opened(ctx); err != nil { // refused: it carried nothing (see sendFile)
		slot.close()
		return "", from, true, err
	}
	slot.detach()
	if from > 0 && obs.Held != nil {
		obs.Held(from)
	}
	if obs.Wrote != nil {
		obs.Wrote(len(data) - int(from))
	}
	return sum, from, true, nil
}

func hashOfBytes(p []byte) string {
	h := newHash()
	h.Write(p)
	return formatHash(h)
}

// readSmallFile reads the whole of the file at local, offered as f, into
// p, which has f.Size bytes, through an os.File. It fails if the file is
// not as offered before or after the read. readSmall is this, or the same
// with plain system calls where that is cheaper.
func readSmallFile(local string, f protocol.File, p []byte) error {
	return fileSource{path: local}.readSmall(local, f, p)
}

// readSmall is readSmallFile for the file of s (local is its path).
func (s fileSource) readSmall(local string, f protocol.File, p []byte) error {
	src, err := s.open()
	if err != nil {
		return err
	}
	defer src.Close()
	if err := unchanged(src, f); err != nil {
		return err
	}
	if _, err := io.ReadFull(src, p); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = errShrank(local)
		}
		return err
	}
	return unchanged(src, f) // a file that grew is caught here
}

func errShrank(local string) error  { return fmt.Errorf("%s shrank while being sent", local) }
func errChanged(local string) error { return fmt.Errorf("%s changed while being sent", local) }
