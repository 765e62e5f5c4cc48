package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/spf13/cobra"
)

func recvCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recv",
		Short: "wait for files that other clients send, and store them",
		Long: "recv ADDR --dir DIR [--yes] [--name NICK] [--json]\n" +
			"   or: muxfer recv ADDR --stdout --yes [--name NICK] [--json]\n\n" +
			"Connects to the hub as NICK and stores in DIR the files other clients send to\n" +
			"NICK (muxfer send ADDR --to NICK PATH..., /send NICK PATH... in chat), checked and\n" +
			"verified as the hub checks uploads, until interrupted. Each offer is shown with\n" +
			"its files and sizes and waits for an answer on standard input: y (or /accept N)\n" +
			"takes the oldest waiting, n (or /decline N) refuses it. Once standard input ends,\n" +
			"new offers are declined. --yes accepts every offer without asking.\n" +
			"Files sent to NICK while it was away wait on the hub, sealed for its identity: they\n" +
			"are offered as recv connects, with the sender's key. --once takes those and exits.\n" +
			"A lost connection is dialled again; files cut by it resume when the sender sends\n" +
			"them again, which muxfer send does by itself.\n" +
			"With --stdout, recv takes one file, writes it to standard output once it is\n" +
			"verified, and exits; it declines offers of folders or of several files, telling\n" +
			"their sender why. The file is kept in the temporary folder ($TMPDIR, or /tmp)\n" +
			"until then, so it needs that much room there. Messages go to stderr.",
		Example: "  muxfer recv hub.example:7878 --name bob --dir ~/incoming        # asks about each offer\n" +
			"  muxfer recv 127.0.0.1:7878 --name bob --dir drop --yes --json | jq .\n" +
			"  muxfer recv hub.example:7878 --name bob --stdout --yes | tar x   # from send --to bob --stdin NAME\n",
	}
	fs := cmd.Flags()
	r := &recvFlags{
		name:  fs.String("name", defaultName(), "name to use on the hub, which senders give to --to (your identity's from its first use there;\na clash with a connected client gets a suffix)"),
		named: func() bool { return fs.Changed("name") },
		dir:   fs.String("dir", "", "store received files under `DIR` (created if missing)"),
		yes:   fs.Bool("yes", false, "accept every offer without asking"),
		once:  fs.Bool("once", false, "take what the hub holds for you (files sent while you were away), then exit"),
		stdout: fs.Bool("stdout", false, "receive one file and write it to standard output, once verified, instead of into --dir;\n"+
			"messages, JSON too, go to stderr"),
		json:      fs.Bool("json", false, "print one JSON object per line on stdout for every event"),
		reconnect: fs.Bool("reconnect", true, "reconnect when the connection is lost (keeping the name)"),
		giveUp:    fs.Duration("give-up", 2*time.Minute, "stop trying to reconnect after this long"),
		keep:      keepPartialFlag(cmd),
		keys:      addClientKeyFlags(cmd),
	}
	_ = cmd.RegisterFlagCompletionFunc("dir", folders)
	cmd.RunE = func(_ *cobra.Command, pos []string) error { return r.recv(e, pos) }
	return cmd
}

type recvFlags struct {
	name, dir *string
	named     func() bool // whether --name was given
	yes, json *bool
	once      *bool // exit once the held transfers are dealt with
	stdout    *bool // one file, to standard output (stdio.go)
	reconnect *bool
	giveUp    *time.Duration
	keep      *time.Duration // --keep-partial
	keys      keyFlags
}

// recv receives files sent to this client until interrupted or the
// connection ends for good, or with --stdout one file.
func (r *recvFlags) recv(e env, pos []string) error {
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
	keys, err := r.keys.clientAccess(e, pos[0])
	if err != nil {
		return err
	}
	zero := 0
	cf := clientFlags{name: r.name, named: r.named, json: r.json, parallel: &zero, limitRate: new(byteSize), access: keys,
		reconnect: r.reconnect, reconnectMax: new(time.Duration), giveUp: r.giveUp}
	if *r.stdout {
		return r.recvOne(e, u, &cf, pos[0])
	}
	var asking atomic.Bool // standard input is open to answer offers
	asking.Store(!*r.yes)
	decide := func(o client.Offer) client.Decision {
		switch {
		case *r.yes:
			return client.Accept
		case asking.Load():
			return client.Ask
		case o.Held != nil:
			return client.Ask // it waits on the hub for the next time
		}
		return client.Decline // nobody left to ask
	}
	s, v, err := cf.connect(e, u, pos[0], client.SessionConfig{Dir: *r.dir, KeepParts: *r.keep, Decide: decide})
	if err != nil {
		return err
	}
	defer s.Close()
	u.event(map[string]any{"type": "waiting", "dir": *r.dir}, "* waiting for files; they go into "+*r.dir)
	var lines chan string
	if !*r.yes {
		v.hint = func(n int) string { return fmt.Sprintf("accept? y/n (or /accept %d, /decline %d)", n, n) }
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		lines = make(chan string)
		// Ends at the end of stdin; if ctx ends first it stays blocked in
		// Read until the process exits, as chat's reader does.
		go func() {
			defer close(lines)
			scanLines(ctx, e.stdin, lines)
		}()
	}
	events := s.Events()
	var settled <-chan struct{}
	if *r.once {
		// The hub says what it holds before it answers anything: once Who
		// has returned, what waited is counted.
		if _, err := s.Who(e.ctx); err != nil {
			return err
		}
		settled = s.HeldSettled()
	}
	for {
		select {
		case <-settled:
			s.Leave() // the events of what was taken come first
			for ev := range events {
				v.show(ev)
			}
			if v.failed > 0 {
				return errFilesFailed
			}
			return nil
		case <-e.ctx.Done():
			return e.ctx.Err()
		case line, ok := <-lines:
			if !ok {
				asking.Store(false)
				lines = nil
				continue
			}
			answerOffer(s, v, line)
		case ev, ok := <-events:
			if !ok {
				return fmt.Errorf("%w: %w", errConnLost, s.Err())
			}
			v.show(ev)
		}
	}
}

// answerOffer acts on one line of standard input: y or yes (/accept N)
// accepts the oldest offer waiting (offer N), n or no (/decline N)
// declines it, /offers lists them.
func answerOffer(s *client.Session, v *view, line string) {
	cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	switch cmd = strings.ToLower(cmd); cmd {
	case "":
	case "y", "yes", "/accept", "n", "no", "/decline":
		if num, why := offerArgs(arg); num == "" && !strings.HasPrefix(cmd, "/") {
			if waiting := s.Offers(); len(waiting) > 0 {
				arg = strings.TrimSpace(strconv.Itoa(waiting[0].N) + " " + why) // y and n answer the oldest
			}
		}
		accept := cmd == "y" || cmd == "yes" || cmd == "/accept"
		v.answer(s, arg, accept)
	case "/offers":
		v.list(s, arg)
	default:
		v.u.problem(errors.New("answer y or n (or /accept N, /decline N, /offers)"))
	}
}
