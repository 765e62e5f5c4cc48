package transfer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"
)

// RecordsFile is the file, at the top of the receiver's directory, that
// keeps the records of stored files across restarts (see OpenRecords).
// Offered names may not start with ".muxfer-", so no sender can write to
// it.
const RecordsFile = partPrefix + "records"

// maxRecordLine bounds one line of the records file when it is read; a
// longer one is skipped. A record holds a path of at most MaxPathLen
// bytes, written without escapes but for quotes and backslashes.
const maxRecordLine = 3 * MaxPathLen

// recordLine is one line of the records file.
type recordLine struct {
	Key    string `json:"k"`
	Stored string `json:"s"`
	Hash   string `json:"h"`
	Size   int64  `json:"n"`
	MTime  int64  `json:"m"`
	At     int64  `json:"t"` // Unix seconds
}

// OpenRecords makes the receiver remember the files it stored with a
// resume token across restarts, in a file at the top of its directory: it
// reads the records kept there (dropping those older than KeepParts),
// rewrites the file with only those, and appends every new record to it.
// Without it the records live in memory only, and a file whose result was
// lost in a restart of the receiver is stored a second time. Call it once,
// before the first Prepare, and CloseRecords when done.
func (r *Receiver) OpenRecords() error {
	b := &r.book
	b.mu.Lock()
	defer b.mu.Unlock()
	b.persist = true
	err := r.loadRecords()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // created with the first record
	}
	if err != nil {
		return err
	}
	return r.rewriteRecords()
}

// CloseRecords closes the records file, if OpenRecords opened it.
func (r *Receiver) CloseRecords() error {
	b := &r.book
	b.mu.Lock()
	defer b.mu.Unlock()
	b.persist = false
	if b.journal == nil {
		return nil
	}
	err := b.journal.Close()
	b.journal = nil
	return err
}

// loadRecords reads the records file into the book; b.mu is held. Lines
// that do not parse, or are too long, are skipped: the file is only a
// cache of what the receiver has stored.
func (r *Receiver) loadRecords() error {
	f, err := r.root.Open(RecordsFile)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, maxRecordLine)
	keep := r.keepParts()
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Too long to be a record: skip to the end of the line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			line = nil
		}
		var l recordLine
		if len(line) > 0 && json.Unmarshal(line, &l) == nil && len(l.Key) == 32 && l.Stored != "" {
			if at := time.Unix(l.At, 0); time.Since(at) <= keep {
				r.book.add(l.Key, record{stored: l.Stored, hash: l.Hash, size: l.Size, mtime: l.MTime, at: at}, keep)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// rewriteRecords replaces the records file with the book's records and
// keeps it open for appending; b.mu is held.
func (r *Receiver) rewriteRecords() error {
	b := &r.book
	if b.journal != nil {
		b.journal.Close()
		b.journal = nil
	}
	tmp := RecordsFile + ".new"
	f, err := r.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, o := range b.order {
		if rec, ok := b.records[o.key]; ok && rec.at.Equal(o.at) {
			writeRecord(w, o.key, rec)
		}
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.root.Rename(tmp, RecordsFile)
	}
	if err != nil {
		r.root.Remove(tmp)
		return err
	}
	b.journal, err = r.root.OpenFile(RecordsFile, os.O_WRONLY|os.O_APPEND, 0)
	b.appended = 0
	return err
}

// writeRecord writes one record as a line of JSON, in one Write. A hub
// writes one for every file it stores, and encoding/json's reflection was
// three quarters of that cost (4% of the hub's CPU for 5,000 files of
// 4 KiB), so the line is put together here: the same bytes an Encoder
// without HTML escapes writes (records_test.go compares them), so "&"
// stays one byte and no path makes a line too long.
func writeRecord(w io.Writer, key string, rec record) error {
	b := make([]byte, 0, 128+len(rec.stored))
	b = append(b, `{"k":`...)
	b = appendJSONString(b, key)
	b = append(b, `,"s":`...)
	b = appendJSONString(b, rec.stored)
	b = append(b, `,"h":`...)
	b = appendJSONString(b, rec.hash)
	b = append(b, `,"n":`...)
	b = strconv.AppendInt(b, rec.size, 10)
	b = append(b, `,"m":`...)
	b = strconv.AppendInt(b, rec.mtime, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, rec.at.Unix(), 10)
	b = append(b, "}\n"...)
	_, err := w.Write(b)
	return err
}

// appendJSONString appends s as a JSON string. Printable ASCII without
// quotes or backslashes, which is what keys, hashes and most paths are,
// is copied as it is; anything else is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			var q bytes.Buffer
			enc := json.NewEncoder(&q)
			enc.SetEscapeHTML(false)
			enc.Encode(s) // cannot fail for a string
			return append(b, bytes.TrimSuffix(q.Bytes(), []byte("\n"))...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// journalRecord appends a new record to the file, and rewrites the file
// once it holds many more lines than records; b.mu is held. A record that
// cannot be written stays in memory.
func (r *Receiver) journalRecord(key string, rec record) {
	b := &r.book
	if !b.persist {
		return
	}
	if b.journal == nil {
		f, err := r.root.OpenFile(RecordsFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return
		}
		b.journal = f
	}
	if writeRecord(b.journal, key, rec) != nil {
		return
	}
	if b.appended++; b.appended > 2*maxRecords {
		r.rewriteRecords()
	}
}
