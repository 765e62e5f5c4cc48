package transfer

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// encodeRecord is how records were written before writeRecord built the
// line itself: the line must stay byte for byte the same.
func encodeRecord(key string, rec record) []byte {
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false)
	enc.Encode(recordLine{Key: key, Stored: rec.stored, Hash: rec.hash, Size: rec.size, MTime: rec.mtime, At: rec.at.Unix()})
	return line.Bytes()
}

func TestWriteRecordWritesTheLineEncodingJSONWrites(t *testing.T) {
	paths := []string{
		"a.txt", "photos/2024/IMG 0001.jpg", `quote"d`, `back\slash`, "tab\there", "new\nline",
		"ctrl\x01\x1f", "del\x7f", "<html> & co", "été/naïve.txt", "日本語", "line\u2028sep\u2029",
		"bad\xffutf8", "\xc3", "emoji 😀", "",
	}
	at := time.Unix(1_700_000_000, 0)
	for _, p := range paths {
		rec := record{stored: p, hash: "xxh3-128:00112233445566778899aabbccddeeff", size: 4096, mtime: -12345, at: at}
		var got bytes.Buffer
		if err := writeRecord(&got, "0123456789abcdef0123456789abcdef", rec); err != nil {
			t.Fatal(err)
		}
		if want := encodeRecord("0123456789abcdef0123456789abcdef", rec); !bytes.Equal(got.Bytes(), want) {
			t.Errorf("path %q:\n got %s\nwant %s", p, got.Bytes(), want)
		}
	}
}

func TestWriteRecordMatchesEncodingJSONOnRandomBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		rec := record{stored: string(b), hash: string(b[:len(b)/2]), size: r.Int64(), mtime: -r.Int64(), at: time.Unix(r.Int64N(1<<40), 0)}
		var got bytes.Buffer
		writeRecord(&got, string(b), rec)
		if want := encodeRecord(string(b), rec); !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%q:\n got %s\nwant %s", b, got.Bytes(), want)
		}
	}
}
