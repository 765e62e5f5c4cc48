package main

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/mux"
)

// serveInProcess runs "muxfer serve" with args on 127.0.0.1:0 and returns
// its address and the environment a client needs; the hub stops when the
// test ends, and must exit 0.
func serveInProcess(t *testing.T, args ...string) (addr string, getenv func(string) string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	cfgDir := t.TempDir()
	e := env{stdin: strings.NewReader(""), stdout: outW, stderr: errW, ctx: ctx, getenv: func(n string) string {
		if n == "XDG_CONFIG_HOME" {
			return cfgDir
		}
		return ""
	}}
	done := make(chan int, 1)
	go func() {
		done <- run(e, append([]string{"serve", "--listen", "127.0.0.1:0", "--dir", t.TempDir()}, args...))
		outW.Close()
		errW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve exited %d", code)
		}
	})
	addrs := make(chan string, 1)
	go func() {
		// Read the log as it comes, or serve would block writing it.
		logs := bufio.NewScanner(errR)
		re := regexp.MustCompile(`listening" addr=(\S+)`)
		for logs.Scan() {
			if m := re.FindStringSubmatch(logs.Text()); m != nil {
				addrs <- m[1]
			}
		}
		close(addrs)
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	go io.Copy(io.Discard, outR)
	assign, _, _ := strings.Cut(line, " ")
	key, ok := strings.CutPrefix(assign, keyEnv+"=")
	if err != nil || !ok {
		t.Fatalf("serve printed %q, %v", line, err)
	}
	if addr = <-addrs; addr == "" {
		t.Fatal("serve never said where it listens")
	}
	return addr, func(n string) string {
		if n == keyEnv {
			return key
		}
		return ""
	}
}

func TestServeLimitsFromFlags(t *testing.T) {
	addr, getenv := serveInProcess(t, "--max-size", "1M")
	code, _, errs := runCmdEnv(t, getenv, "", "send", addr, "../../testdata", "--progress", "never")
	if code != exitFailed || !strings.Contains(errs, "over the limit") {
		t.Errorf("a 3 MB upload to a hub with --max-size 1M: exit %d, %q", code, errs)
	}
	code, _, errs = runCmdEnv(t, getenv, "", "send", addr, "../../testdata/hello.txt", "--progress", "never")
	if code != exitOK {
		t.Errorf("a small upload: exit %d, %q", code, errs)
	}
}

func TestServeMaxPerAddrFromFlag(t *testing.T) {
	addr, getenv := serveInProcess(t, "--max-per-addr", "1")
	key, err := mux.ParseKey(getenv(keyEnv))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := client.Dial(ctx, addr, client.Config{Name: "first", Mux: mux.Config{Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	code, _, errs := runCmdEnv(t, getenv, "", "send", addr, "../../testdata/hello.txt", "--progress", "never")
	if want := "too many connections from 127.0.0.1: limit 1"; code != exitFailed || !strings.Contains(errs, want) {
		t.Errorf("a second client from 127.0.0.1 to a hub with --max-per-addr 1: exit %d, %q, want %q", code, errs, want)
	}
}

func TestReserveInodesFlagMapsToTheLibrary(t *testing.T) {
	for _, tt := range []struct {
		flag int
		want int64
	}{{-1, 0}, {-7, 0}, {0, -1}, {5000, 5000}} {
		if got := inodeReserve(tt.flag); got != tt.want {
			t.Errorf("--reserve-inodes %d: ReserveInodes %d, want %d", tt.flag, got, tt.want)
		}
	}
}
