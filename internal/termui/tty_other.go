//go:build !unix

package termui

import (
	"errors"
	"io"
	"os"
	"sync"
)

// termReader reads a terminal in raw mode on a goroutine of its own and
// sends what it reads, a chunk at a time, on chunks; chunks is closed when
// the terminal ends (err is nil) or fails (err says why).
type termReader struct {
	chunks <-chan []byte
	err    error // set before chunks is closed
	stop   func()
}

// readTerminal starts reading f. Here a read of the terminal cannot be
// interrupted: stop does not wait for the goroutine, which stays blocked
// in its read until a key comes or the process exits. The terminal is
// restored all the same, by the line editor, without waiting for it.
func readTerminal(f *os.File) (*termReader, error) {
	chunks := make(chan []byte)
	quit := make(chan struct{})
	tr := &termReader{chunks: chunks}
	go func() {
		defer close(chunks)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				select {
				case chunks <- append([]byte(nil), buf[:n]...):
				case <-quit:
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					tr.err = err
				}
				return
			}
		}
	}()
	tr.stop = sync.OnceFunc(func() { close(quit) })
	return tr, nil
}
