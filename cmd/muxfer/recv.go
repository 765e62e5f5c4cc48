package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/spf13/pflag"
)

var recvCommand = command{
	name:    "recv",
	summary: "wait for files that other clients send, and store them",
	synopsis: "recv ADDR --dir DIR [--yes] [--name NICK] [--json]\n" +
		"   or: muxfer recv ADDR --stdout --yes [--name NICK] [--json]\n\n" +
		"Connects to the hub as NICK and stores in DIR the files other clients send to\n" +
		"NICK (muxfer send ADDR --to NICK PATH..., /send NICK PATH... in chat), checked and\n" +
		"verified as the hub checks uploads, until interrupted. Each offer is shown with\n" +
		"its files and sizes and waits for an answer on standard input: y (or /accept N)\n" +
		"takes the oldest waiting, n (or /decline N) refuses it. Once standard input ends,\n" +
		"new offers are declined. --yes accepts every offer without asking.\n" +
		"A lost connection is dialled again; files cut by it resume when the sender sends\n" +
		"them again, which muxfer send does by itself.\n" +
		"With --stdout, recv takes one file, writes it to standard output once it is\n" +
		"verified, and exits; it declines offers of folders or of several files, telling\n" +
		"their sender why. The file is kept in the temporary folder ($TMPDIR, or /tmp)\n" +
		"until then, so it needs that much room there. Messages go to stderr.",
	examples: "  muxfer recv hub.example:7878 --name bob --dir ~/incoming        # asks about each offer\n" +
		"  muxfer recv 127.0.0.1:7878 --name bob --dir drop --yes --json | jq .\n" +
		"  muxfer recv hub.example:7878 --name bob --stdout --yes | tar x   # from send --to bob --stdin NAME\n",
	define: func(fs *pflag.FlagSet) action {
		r := &recvFlags{
			name: fs.String("name", defaultName(), "name to use on the hub, which senders give to --to (a clash gets a suffix)"),
			dir:  fs.String("dir", "", "store received files under `DIR` (created if missing)"),
			yes:  fs.Bool("yes", false, "accept every offer without asking"),
			stdout: fs.Bool("stdout", false, "receive one file and write it to standard output, once verified, instead of into --dir;\n"+
				"messages, JSON too, go to stderr"),
			json:      fs.Bool("json", false, "print one JSON object per line on stdout for every event"),
			reconnect: fs.Bool("reconnect", true, "reconnect when the connection is lost (keeping the name)"),
			giveUp:    fs.Duration("give-up", 2*time.Minute, "stop trying to reconnect after this long"),
			keep:      keepPartialFlag(fs),
			keys:      addKeyFlags(fs),
		}
		return r.recv
	},
}

type recvFlags struct {
	name, dir *string
	yes, json *bool
	stdout    *bool // one file, to standard output (stdio.go)
	reconnect *bool
	giveUp    *time.Duration
	keep      *time.Duration // --keep-partial
	keys      keyFlags
}

// recv receives files relayed to this client until interrupted or the
// connection ends for good, or with --stdout one file.
func (r *recvFlags) recv(e env, fs *pflag.FlagSet, pos []string) error {
	switch {
	case len(pos) == 0:
		return usageError{"missing ADDR"}
	case len(pos) > 1:
		return usageError{fmt.Sprintf("unexpected argument %q: recv takes one ADDR", pos[1])}
	case *r.stdout && *r.dir != "":
		return usageError{"--stdout and --dir: give one, --stdout writes the file to standard output"}
	case *r.dir == "" && !*r.stdout:
		return usageError{"missing --dir (or --stdout)"}
	case *r.stdout && !*r.yes:
		return usageError{"--stdout needs --yes: the one file it takes is accepted without asking"}
	}
	out := e.stdout
	if *r.stdout {
		out = e.stderr // stdout carries the file's bytes only
	}
	u, err := newUI(out, e.stderr, *r.json, "auto") // progress on stderr, when it is a terminal
	if err != nil {
		return err
	}
	defer u.close()
	cfg, _, err := r.keys.muxConfig(e, false)
	if err != nil {
		return err
	}
	if *r.stdout {
		return r.recvOne(e, u, pos[0], cfg)
	}
	in := newInbox(u, *r.dir)
	in.keep = *r.keep
	var cur atomic.Pointer[client.Client] // the connection offers are answered on
	var asking atomic.Bool                // standard input is open to answer offers
	decide := func(protocol.Offer) client.Decision {
		switch {
		case *r.yes:
			return client.Accept
		case asking.Load():
			return client.Ask
		}
		return client.Decline // nobody left to ask
	}
	if !*r.yes {
		in.hint = func(n int) string { return fmt.Sprintf("accept? y/n (or /accept %d, /decline %d)", n, n) }
		asking.Store(true)
	}
	name := *r.name
	dial := func(ctx context.Context) (*client.Client, error) {
		c, err := dialConfig(ctx, pos[0], in.config(client.Config{Name: name, Mux: cfg}, decide), u)
		if err == nil {
			name = c.Name() // keep it across reconnects
			cur.Store(c)
		}
		return c, err
	}
	c, err := dial(e.ctx)
	if err != nil {
		return err
	}
	defer func() { cur.Load().Close() }()
	u.event(map[string]any{"type": "waiting", "dir": *r.dir}, "* waiting for files; they go into "+*r.dir)
	if !*r.yes {
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		go func() {
			defer close(done)
			answerOffers(ctx, e.stdin, u, in, &cur)
			asking.Store(false)
		}()
	}
	for {
		select {
		case <-e.ctx.Done():
			return e.ctx.Err()
		case <-c.Done():
		}
		c.Close()
		lost := c.Err()
		var refused *protocol.Error
		if !*r.reconnect || errors.As(lost, &refused) {
			return fmt.Errorf("%w: %w", errConnLost, lost)
		}
		u.event(map[string]string{"type": "disconnected", "reason": lost.Error()},
			fmt.Sprintf("* connection lost (%s); reconnecting", lost.Error()))
		in.forget()
		if c, err = (client.Backoff{GiveUp: *r.giveUp}).Retry(e.ctx, dial, u.retry); err != nil {
			return fmt.Errorf("%w: %w", errConnLost, err)
		}
	}
}

// answerOffers reads answers to offers from stdin until it ends or ctx is
// done: y or yes (/accept N) accepts the oldest offer waiting (offer N),
// n or no (/decline N) declines it, /offers lists them.
func answerOffers(ctx context.Context, stdin io.Reader, u *ui, in *inbox, cur *atomic.Pointer[client.Client]) {
	lines := make(chan string)
	go func() {
		// Ends at the end of stdin; if ctx ends first it stays blocked in
		// Read until the process exits, as chat's reader does.
		defer close(lines)
		scanLines(ctx, stdin, lines)
	}()
	for {
		var line string
		var ok bool
		select {
		case line, ok = <-lines:
			if !ok {
				return
			}
		case <-ctx.Done():
			return
		}
		cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToLower(cmd) {
		case "":
		case "y", "yes", "/accept":
			in.answer(cur.Load(), arg, true)
		case "n", "no", "/decline":
			in.answer(cur.Load(), arg, false)
		case "/offers":
			in.list(arg)
		default:
			u.event(map[string]string{"type": "error", "text": "answer y or n (or /accept N, /decline N, /offers)"},
				"! answer y or n (or /accept N, /decline N, /offers)")
		}
	}
}

// recvOne is recv --stdout: one file, to standard output.
func (r *recvFlags) recvOne(e env, u *ui, addr string, cfg mux.Config) error {
	one, err := newOneFile(u)
	if err != nil {
		return err
	}
	defer one.remove() // after c.Close, deferred below
	in := newInbox(u, "standard output")
	conf := in.config(client.Config{Name: *r.name, Mux: cfg}, func(protocol.Offer) client.Decision { return client.Accept })
	one.wrap(&conf)
	c, err := dialConfig(e.ctx, addr, conf, u)
	if err != nil {
		return err
	}
	defer c.Close()
	one.connected(c)
	u.event(map[string]any{"type": "waiting"}, "* waiting for one file to write to standard output")
	return one.deliver(e.ctx, e.stdout)
}
