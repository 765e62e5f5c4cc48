//go:build unix

package termui

import (
	"errors"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// termReader reads a terminal in raw mode on a goroutine of its own and
// sends what it reads, a chunk at a time, on chunks; chunks is closed when
// the terminal ends (err is nil) or fails (err says why), or after stop.
type termReader struct {
	chunks <-chan []byte
	err    error // set before chunks is closed
	stop   func()
}

// readTerminal starts reading f. The goroutine waits in poll(2) on f and
// on a pipe of its own, never in read(2) on a terminal with nothing to
// read: stop writes to the pipe, which ends the goroutine at once, and
// waits for it. So the line editor can give the terminal back, and end
// its reader, when the chat ends without a key being pressed.
func readTerminal(f *os.File) (*termReader, error) {
	wakeR, wakeW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	fd, wake := int(f.Fd()), int(wakeR.Fd())
	chunks := make(chan []byte)
	quit := make(chan struct{})
	tr := &termReader{chunks: chunks}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(chunks)
		buf := make([]byte, 4096)
		for {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(wake), Events: unix.POLLIN}}
			if _, err := unix.Poll(fds, -1); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				tr.err = err
				return
			}
			if fds[1].Revents != 0 {
				return
			}
			if fds[0].Revents == 0 {
				continue
			}
			n, err := unix.Read(fd, buf)
			switch {
			case errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN):
				continue
			case n <= 0:
				tr.err = err // nil: the terminal ended
				return
			}
			select {
			case chunks <- append([]byte(nil), buf[:n]...):
			case <-quit:
				return
			}
		}
	})
	tr.stop = sync.OnceFunc(func() {
		close(quit)
		wakeW.Write([]byte{0})
		wg.Wait()
		wakeR.Close()
		wakeW.Close()
	})
	return tr, nil
}
