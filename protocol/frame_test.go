package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// frame returns the wire form of payload with an explicit length, which
// may lie about the payload that follows.
func frame(length uint32, payload string) []byte {
	b := binary.BigEndian.AppendUint32(nil, length)
	return append(b, payload...)
}

// frameOf returns payload as a well-formed frame.
func frameOf(payload string) []byte { return frame(uint32(len(payload)), payload) }

// demandReader serves announce and then, endlessly, zero bytes. It records
// the largest buffer a reader asked it to fill and how many bytes it gave
// after announce, so a test can see what ReadFrame allocated.
type demandReader struct {
	announce []byte
	served   int // bytes handed out after announce
	largest  int // largest len(p) asked for
}

func (r *demandReader) Read(p []byte) (int, error) {
	r.largest = max(r.largest, len(p))
	if len(r.announce) > 0 {
		n := copy(p, r.announce)
		r.announce = r.announce[n:]
		return n, nil
	}
	clear(p)
	r.served += len(p)
	return len(p), nil
}

// writeCounter records each Write call separately.
type writeCounter struct{ writes [][]byte }

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// bytesAllocated reports the average heap bytes allocated by one call of f.
func bytesAllocated(runs int, f func()) uint64 {
	f() // warm up lazily initialised state
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

func TestWriteFrameWritesBigEndianLengthThenPayloadInOneWrite(t *testing.T) {
	long := strings.Repeat("x", 0x0102)
	tests := []struct {
		name    string
		payload string
		want    []byte
	}{
		{"empty", "", []byte{0, 0, 0, 0}},
		{"chat", `{"type":"chat","text":"hi"}`, append([]byte{0, 0, 0, 27}, `{"type":"chat","text":"hi"}`...)},
		{"two length bytes", long, append([]byte{0, 0, 1, 2}, long...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w writeCounter
			if err := WriteFrame(&w, []byte(tt.payload)); err != nil {
				t.Fatal(err)
			}
			if len(w.writes) != 1 {
				t.Fatalf("frame written in %d Write calls, want 1", len(w.writes))
			}
			if !bytes.Equal(w.writes[0], tt.want) {
				t.Fatalf("wrote % x…, want % x…", head(w.writes[0]), head(tt.want))
			}
		})
	}
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

func TestWriteFrameReturnsWriterError(t *testing.T) {
	broken := errors.New("broken pipe")
	if err := WriteFrame(errWriter{broken}, []byte("x")); !errors.Is(err, broken) {
		t.Fatalf("WriteFrame = %v, want %v", err, broken)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestReadFrameReturnsPayloadUpToLimit(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		limit int
	}{
		{"empty", 0, MaxHeaderFrame},
		{"one byte", 1, MaxHeaderFrame},
		{"exactly the header limit", MaxHeaderFrame, MaxHeaderFrame},
		{"exactly the control limit", MaxControlFrame, MaxControlFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte{'a'}, tt.size)
			var buf bytes.Buffer
			if err := WriteFrame(&buf, payload); err != nil {
				t.Fatal(err)
			}
			got, err := ReadFrame(&buf, tt.limit)
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("payload of %d bytes, want %d", len(got), len(payload))
			}
			if buf.Len() != 0 {
				t.Fatalf("%d bytes left unread", buf.Len())
			}
		})
	}
}

func TestReadFrameRefusesLengthAboveLimitBeforeAllocating(t *testing.T) {
	tests := []struct {
		name   string
		length uint32
		limit  int
	}{
		{"4 GiB on the control stream", 0xffffffff, MaxControlFrame},
		{"one byte over the control limit", MaxControlFrame + 1, MaxControlFrame},
		{"one byte over the header limit", MaxHeaderFrame + 1, MaxHeaderFrame},
		{"anything with a zero limit", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &demandReader{announce: frame(tt.length, "")}
			_, err := ReadFrame(r, tt.limit)
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("ReadFrame = %v, want ErrFrameTooLarge", err)
			}
			if r.served != 0 || r.largest > 4 {
				t.Fatalf("read %d payload bytes into a buffer of %d before refusing", r.served, r.largest)
			}
			// The error message is all that may be allocated: far less
			// than the announced length, and independent of it.
			perCall := bytesAllocated(100, func() {
				ReadFrame(&demandReader{announce: frame(tt.length, "")}, tt.limit)
			})
			if perCall > 1024 {
				t.Fatalf("refusing a %d-byte frame allocated %d bytes per call", tt.length, perCall)
			}
		})
	}
}

func TestReadFrameAllocatesOnlyTheAnnouncedPayload(t *testing.T) {
	const size = 64 << 10
	data := frame(size, strings.Repeat("z", size))
	r := bytes.NewReader(data)
	read := func() {
		r.Reset(data)
		if _, err := ReadFrame(r, MaxControlFrame); err != nil {
			t.Fatal(err)
		}
	}
	// The 4-byte length (it escapes through io.Reader) and the payload;
	// nothing the size of the limit.
	if allocs := testing.AllocsPerRun(100, read); allocs > 2 {
		t.Fatalf("%v allocations per ReadFrame, want at most 2", allocs)
	}
	perCall := bytesAllocated(100, read)
	if perCall > size+1024 {
		t.Fatalf("reading a %d-byte frame allocated %d bytes", size, perCall)
	}
}

func TestReadFrameTellsCleanEndFromTruncation(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"nothing at all", nil, io.EOF},
		{"half a length", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"length without payload", frame(5, ""), io.ErrUnexpectedEOF},
		{"length with part of the payload", frame(5, "ab"), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.input), MaxControlFrame)
			if err != tt.want {
				t.Fatalf("ReadFrame = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReadFrameReadsConsecutiveFramesThenEOF(t *testing.T) {
	input := concat(frame(2, "ab"), frame(0, ""), frame(3, "xyz"))
	r := iotest.OneByteReader(bytes.NewReader(input))
	for _, want := range []string{"ab", "", "xyz"} {
		got, err := ReadFrame(r, MaxHeaderFrame)
		if err != nil || string(got) != want {
			t.Fatalf("ReadFrame = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := ReadFrame(r, MaxHeaderFrame); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameLeavesBytesAfterTheFrameUnread(t *testing.T) {
	// On a data stream the file's raw bytes follow the header frame.
	r := bytes.NewReader(concat(frame(2, "{}"), []byte("raw file bytes")))
	if _, err := ReadFrame(r, MaxHeaderFrame); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "raw file bytes" {
		t.Fatalf("left %q unread, want the raw bytes", rest)
	}
}

func TestReadFramePassesOnReaderErrors(t *testing.T) {
	reset := errors.New("connection reset")
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"in the length", iotest.ErrReader(reset)},
		{"in the payload", io.MultiReader(bytes.NewReader(frame(4, "ab")), iotest.ErrReader(reset))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadFrame(tt.r, MaxHeaderFrame); !errors.Is(err, reset) {
				t.Fatalf("ReadFrame = %v, want %v", err, reset)
			}
		})
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDataStreamRoundTripsHeaderBytesAndTrailer(t *testing.T) {
	const hash = "xxh3-128:99aa06d3014798d86001c324468d497f"
	h := DataHeader{Transfer: "5f0c2a", File: 2, Offset: 0}
	var buf bytes.Buffer
	if err := WriteHeader(&buf, h); err != nil {
		t.Fatal(err)
	}
	wantHeader := `{"transfer":"5f0c2a","file":2,"offset":0}`
	if got := buf.String(); got != string(frameOf(wantHeader)) {
		t.Fatalf("header frame %q, want %q", got, wantHeader)
	}
	buf.WriteString("hello")
	if err := WriteTrailer(&buf, Trailer{Hash: hash}); err != nil {
		t.Fatal(err)
	}

	gotH, err := ReadHeader(&buf)
	if err != nil || gotH != h {
		t.Fatalf("ReadHeader = %+v, %v; want %+v", gotH, err, h)
	}
	body := make([]byte, 5)
	if _, err := io.ReadFull(&buf, body); err != nil || string(body) != "hello" {
		t.Fatalf("body %q, %v", body, err)
	}
	gotT, err := ReadTrailer(&buf)
	if err != nil || gotT.Hash != hash {
		t.Fatalf("ReadTrailer = %+v, %v; want hash %s", gotT, err, hash)
	}
	if buf.Len() != 0 {
		t.Fatalf("%d bytes left after the trailer", buf.Len())
	}
}

func TestReadHeaderRefusesNegativeFileOrOffset(t *testing.T) {
	tests := []struct {
		name string
		json string
		ok   bool
	}{
		{"zero file and offset", `{"transfer":"t","file":0,"offset":0}`, true},
		{"large offset", `{"transfer":"t","file":7,"offset":9007199254740993}`, true},
		{"negative file", `{"transfer":"t","file":-1,"offset":0}`, false},
		{"negative offset", `{"transfer":"t","file":0,"offset":-5}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadHeader(bytes.NewReader(frameOf(tt.json)))
			if (err == nil) != tt.ok {
				t.Fatalf("ReadHeader(%s) = %v, want ok=%v", tt.json, err, tt.ok)
			}
		})
	}
}

func TestReadHeaderAndTrailerRefuseBadFrames(t *testing.T) {
	padTo := func(n int, obj string) string {
		// obj ends in "}"; an ignored member pads it to n bytes.
		pad := n - len(obj) - len(`,"pad":""`)
		return obj[:len(obj)-1] + `,"pad":"` + strings.Repeat("p", pad) + `"}`
	}
	atLimit := padTo(MaxHeaderFrame, `{"transfer":"t","file":1,"offset":0}`)
	overLimit := padTo(MaxHeaderFrame+1, `{"transfer":"t","file":1,"offset":0}`)
	tests := []struct {
		name  string
		input []byte
		want  error // nil: any error; otherwise errors.Is
		ok    bool
	}{
		{"frame exactly at the 4 KiB limit", frameOf(atLimit), nil, true},
		{"frame one byte over the 4 KiB limit", frameOf(overLimit), ErrFrameTooLarge, false},
		{"invalid UTF-8", frameOf("{\"hash\":\"\xff\"}"), ErrInvalidUTF8, false},
		{"not JSON", frameOf("abc"), nil, false},
		{"clean end of stream", nil, io.EOF, false},
		{"truncated frame", frame(10, "{}"), io.ErrUnexpectedEOF, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errH := ReadHeader(bytes.NewReader(tt.input))
			_, errT := ReadTrailer(bytes.NewReader(tt.input))
			for what, err := range map[string]error{"ReadHeader": errH, "ReadTrailer": errT} {
				switch {
				case tt.ok && err != nil:
					t.Errorf("%s = %v, want success", what, err)
				case !tt.ok && err == nil:
					t.Errorf("%s succeeded, want an error", what)
				case tt.want != nil && !errors.Is(err, tt.want):
					t.Errorf("%s = %v, want %v", what, err, tt.want)
				}
			}
		})
	}
}
