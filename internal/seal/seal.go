// Package seal is the format of held transfers: files a sender seals for
// people who are offline, which a hub keeps without being able to read
// them (protocol README, "Held transfers").
//
// A held transfer has a random id of 16 bytes and a random key of 32.
// Each of its streams (the manifest, and each regular file) is cut into
// chunks of ChunkSize bytes, the last shorter (an empty stream is one
// empty chunk), each sealed with ChaCha20-Poly1305 under a key of the
// stream's own (HKDF-SHA-256 of the transfer key, salted with the id,
// for the stream's index), with the chunk's number and a last-chunk flag
// as its nonce, and the id, stream, chunk and flag as associated data:
// a chunk cannot be moved to another place, stream or transfer, and a
// stream cannot be cut short or made longer, without Open failing.
//
// The transfer key is wrapped to each recipient's Ed25519 identity with
// age (ssh-ed25519 recipients: X25519, age's own conversion). The
// manifest (names, sizes, modes, times and SHA-256 of the files, and who
// sends to whom) is signed with the sender's identity and sealed as
// stream ManifestStream. Nothing here is a cipher of its own: x/crypto's
// ChaCha20-Poly1305, the standard library's HKDF, SHA-256 and Ed25519,
// and age.
package seal

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// ChunkSize is the plaintext of every chunk but a stream's last.
const ChunkSize = 64 << 10

// Overhead is what sealing adds to each chunk: its Poly1305 tag.
const Overhead = chacha20poly1305.Overhead

// ManifestStream is the index of the manifest's stream; files have
// theirs from 0.
const ManifestStream = 0xFFFFFFFF

// version is in every chunk's associated data and the manifest.
const version = "muxfer held v1"

// ID is a held transfer's id.
type ID [16]byte

// Key is a held transfer's key.
type Key [32]byte

// SealedSize is the size of a stream of n plaintext bytes once sealed.
func SealedSize(n int64) int64 {
	chunks := max((n+ChunkSize-1)/ChunkSize, 1)
	return n + chunks*Overhead
}

// PlainSize is the plaintext size of a sealed stream of n bytes, or an
// error if no stream seals to n bytes.
func PlainSize(n int64) (int64, error) {
	const sealed = ChunkSize + Overhead
	full, rest := n/sealed, n%sealed
	switch {
	case n < Overhead:
		return 0, errors.New("too short to be a sealed stream")
	case rest == 0:
		return full * ChunkSize, nil
	case rest < Overhead:
		return 0, errors.New("not the size of a sealed stream")
	}
	return full*ChunkSize + rest - Overhead, nil
}

// newStream is the cipher of stream index of transfer id under key.
func newStream(key *Key, id ID, index uint32) (*streamCipher, error) {
	info := fmt.Appendf(nil, "%s stream %d", version, index)
	k, err := hkdf.Key(sha256.New, key[:], id[:], string(info), chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.New(k)
	if err != nil {
		return nil, err
	}
	return &streamCipher{aead: aead, id: id, index: index}, nil
}

// streamCipher seals and opens the chunks of one stream.
type streamCipher struct {
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
	}
	id    ID
	index uint32
	nonce [chacha20poly1305.NonceSize]byte
	ad    []byte
}

// prepare sets the nonce and associated data of chunk n.
func (s *streamCipher) prepare(n uint64, last bool) {
	clear(s.nonce[:])
	binary.BigEndian.PutUint64(s.nonce[3:11], n)
	flag := byte(0)
	if last {
		flag = 1
	}
	s.nonce[11] = flag
	s.ad = append(s.ad[:0], version...)
	s.ad = append(s.ad, s.id[:]...)
	s.ad = binary.BigEndian.AppendUint32(s.ad, s.index)
	s.ad = binary.BigEndian.AppendUint64(s.ad, n)
	s.ad = append(s.ad, flag)
}

// Seal reads src to its end and writes it sealed as stream index of
// transfer id under key to dst. It returns the plaintext's size and
// SHA-256.
func Seal(dst io.Writer, key *Key, id ID, index uint32, src io.Reader) (n int64, sum [32]byte, err error) {
	s, err := newStream(key, id, index)
	if err != nil {
		return 0, sum, err
	}
	h := sha256.New()
	// Two chunks' room: a chunk is last only once the next read finds
	// nothing, so each is held until the one after it is known.
	bufs := sealBufs.Get().(*[3][]byte)
	defer sealBufs.Put(bufs)
	cur, next, out := bufs[0][:0], bufs[1], bufs[2][:0]
	var chunk uint64
	fill := func(b []byte) (int, error) {
		k, err := io.ReadFull(src, b)
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = nil
		}
		return k, err
	}
	k, err := fill(cur[:ChunkSize])
	if err != nil {
		return n, sum, err
	}
	cur = cur[:k]
	for {
		m := 0
		if len(cur) == ChunkSize {
			if m, err = fill(next); err != nil {
				return n, sum, err
			}
		}
		last := m == 0
		h.Write(cur)
		s.prepare(chunk, last)
		out = s.aead.Seal(out[:0], s.nonce[:], cur, s.ad)
		if _, err := dst.Write(out); err != nil {
			return n, sum, err
		}
		n += int64(len(cur))
		if last {
			copy(sum[:], h.Sum(nil))
			return n, sum, nil
		}
		chunk++
		cur, next = next[:m], cur[:ChunkSize]
	}
}

// sealBufs holds Seal's buffers: two chunks and a sealed one.
var sealBufs = sync.Pool{New: func() any {
	return &[3][]byte{make([]byte, ChunkSize), make([]byte, ChunkSize), make([]byte, 0, ChunkSize+Overhead)}
}}

// ErrOpen reports a sealed stream that does not open: a wrong key, or
// chunks changed, moved, cut short or added.
var ErrOpen = errors.New("sealed stream does not open: it was changed, cut, or sealed for someone else")

// Reader opens a sealed stream as it reads it.
type Reader struct {
	s     *streamCipher
	src   io.Reader
	buf   []byte // the sealed chunk, and a byte read ahead
	out   []byte // room for an opened chunk
	plain []byte // opened, not yet read
	chunk uint64
	done  bool
	err   error
}

// NewReader returns a Reader of the plaintext of stream index of
// transfer id under key, sealed in src. Its Read fails with an error
// wrapping ErrOpen where the stream does not open, and returns io.EOF
// only after the stream's last chunk opened.
func NewReader(key *Key, id ID, index uint32, src io.Reader) (*Reader, error) {
	s, err := newStream(key, id, index)
	if err != nil {
		return nil, err
	}
	return &Reader{s: s, src: src, buf: make([]byte, ChunkSize+Overhead+1), out: make([]byte, 0, ChunkSize)}, nil
}

// Read reads plaintext.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.next()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// next opens the next chunk. A full sealed chunk is read with one byte
// more, which tells whether another follows: a chunk is last exactly
// when nothing follows it.
func (r *Reader) next() {
	const full = ChunkSize + Overhead
	// r.buf[:have] holds a byte read ahead from the chunk before.
	have := 0
	if r.chunk > 0 {
		r.buf[0] = r.buf[full]
		have = 1
	}
	k, err := io.ReadFull(r.src, r.buf[have:full+1])
	k += have
	last := false
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		last = true
	case err != nil:
		r.err = err
		return
	}
	sealed := r.buf[:min(k, full)]
	if len(sealed) < Overhead || (!last && len(sealed) != full) {
		r.err = fmt.Errorf("%w (chunk %d is %d bytes)", ErrOpen, r.chunk, len(sealed))
		return
	}
	r.s.prepare(r.chunk, last)
	plain, err := r.s.aead.Open(r.out[:0], r.s.nonce[:], sealed, r.s.ad)
	if err != nil {
		r.err = fmt.Errorf("%w (chunk %d)", ErrOpen, r.chunk)
		return
	}
	r.plain = plain
	r.chunk++
	r.done = last
}
