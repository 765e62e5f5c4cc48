package hubtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/muxfer/muxfer/mux"
)

// BuildMuxfer builds the muxfer command from the package folder pkg (as
// go build names it: "." in cmd/muxfer, "../cmd/muxfer" from hub) into
// the test's temporary folder, and returns the binary's path. It skips
// the test with -short.
func BuildMuxfer(t testing.TB, pkg string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "muxfer")
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// PeakRSS is the peak resident set of process pid, in bytes, read from
// its /proc status (Linux: VmHWM).
func PeakRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %v", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// Serve is `muxfer serve` running as a process of its own, as a user
// starts it (StartServe).
type Serve struct {
	Cmd  *exec.Cmd
	Addr string // where it listens, from its log

	out     chan string // the lines of its stdout; closed when it ends
	log     chan string // its whole log, once its stderr has ended
	readers sync.WaitGroup
	waited  sync.Once
	exit    error // of Cmd.Wait, once waited
}

// keyVar is the environment variable that holds a client's access key,
// as serve prints it.
const keyVar = "MUXFER_KEY"

// StartServe runs the muxfer binary bin (see BuildMuxfer) as `muxfer
// serve ARGS...`, with a config folder of its own (so that it makes a
// key of its own) and MUXFER_KEY empty unless env (NAME=value) says
// otherwise, and waits until it logs where it listens. If serve exits
// first, StartServe returns an error with what it logged. The process
// gets SIGTERM when the test ends (and SIGKILL if it has not exited 10
// seconds later).
func StartServe(t testing.TB, bin string, env []string, args ...string) (*Serve, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve"}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second // a safety net: serve exits at once on SIGTERM
	cmd.Env = append(append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), keyVar+"="), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Serve{Cmd: cmd, out: make(chan string, 16), log: make(chan string, 1)}
	t.Cleanup(func() {
		cancel()
		s.wait()
		for range s.out { // what nobody read
		}
		s.readers.Wait()
	})
	s.readers.Go(func() {
		defer close(s.out)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			s.out <- lines.Text()
		}
	})
	logs := bufio.NewScanner(stderr)
	listening := regexp.MustCompile(`listening" addr=(\S+)`)
	var log strings.Builder
	for s.Addr == "" && logs.Scan() {
		log.WriteString(logs.Text() + "\n")
		if m := listening.FindStringSubmatch(logs.Text()); m != nil {
			s.Addr = m[1]
		}
	}
	if s.Addr == "" {
		return nil, fmt.Errorf("serve %q never said where it listens; its log:\n%s", args, log.String())
	}
	s.readers.Go(func() {
		for logs.Scan() {
			log.WriteString(logs.Text() + "\n")
		}
		s.log <- log.String()
	})
	return s, nil
}

// wait waits for serve to exit, once, and returns how it exited.
func (s *Serve) wait() error {
	s.waited.Do(func() { s.exit = s.Cmd.Wait() })
	return s.exit
}

// KeyLine returns the first line serve printed on stdout, the one a
// client needs (MUXFER_KEY=mxk2.… muxfer chat HOST:PORT), and its
// MUXFER_KEY=… assignment. It fails the test if serve printed another
// line first, or nothing within a minute.
func (s *Serve) KeyLine(t testing.TB) (line, assign string) {
	t.Helper()
	patience := time.NewTimer(time.Minute)
	defer patience.Stop()
	select {
	case line = <-s.out:
	case <-patience.C:
	}
	assign, _, _ = strings.Cut(line, " ")
	if !strings.HasPrefix(assign, keyVar+"=mxk") {
		t.Fatalf("serve printed %q; want the line a client needs", line)
	}
	return line, assign
}

// Key returns the access key of the line serve printed (see KeyLine).
func (s *Serve) Key(t testing.TB) mux.Key {
	t.Helper()
	line, assign := s.KeyLine(t)
	key, err := mux.ParseKey(strings.TrimPrefix(assign, keyVar+"="))
	if err != nil {
		t.Fatalf("serve printed %q: %v", line, err)
	}
	return key
}

// Stop ends serve with SIGTERM and returns its log and the lines of its
// stdout that were not read yet. It fails the test unless serve exits
// cleanly.
func (s *Serve) Stop(t testing.TB) (log string, stdout []string) {
	t.Helper()
	s.Cmd.Process.Signal(syscall.SIGTERM)
	for line := range s.out {
		stdout = append(stdout, line)
	}
	log = <-s.log
	if err := s.wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
	return log, stdout
}

// Line returns the next line serve printed on stdout, or fails the test
// if there is none within a minute.
func (s *Serve) Line(t testing.TB) string {
	t.Helper()
	patience := time.NewTimer(time.Minute)
	defer patience.Stop()
	select {
	case line, ok := <-s.out:
		if ok {
			return line
		}
	case <-patience.C:
	}
	t.Fatal("serve printed no line")
	return ""
}
