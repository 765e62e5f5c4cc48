package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// pipeBob runs `bin chat addr --name bob --json` with its stdout a pipe,
// as a script or a bot would, and times each of alice's lines when it
// reads it from the pipe: the latency a reader of muxfer's output sees,
// where bob sees the client library's. stdin is a pipe too, held open
// until the last line is in; closing it ends the chat.
func pipeBob(addr, bin string, lines int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "chat", addr, "--name", "bob", "--json")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var lat []time.Duration
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for len(lat) < lines && sc.Scan() {
		at := time.Now()
		var ev struct{ Type, Text string }
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch ev.Type {
		case "welcome":
			fmt.Println("bob: ready")
		case "chat":
			if ns, err := strconv.ParseInt(ev.Text, 10, 64); err == nil {
				lat = append(lat, at.Sub(time.Unix(0, ns)))
			}
		}
	}
	stdin.Close()
	// Read to the end, so that muxfer never blocks on a full pipe while
	// it leaves.
	for sc.Scan() {
	}
	werr := cmd.Wait()
	if len(lat) < lines {
		return fmt.Errorf("only %d of %d lines arrived: %w", len(lat), lines, errors.Join(sc.Err(), werr))
	}
	if werr != nil {
		return fmt.Errorf("muxfer chat: %w", werr)
	}
	report(lat)
	return nil
}
