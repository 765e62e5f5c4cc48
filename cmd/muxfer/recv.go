package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/protocol"
)

var recvCommand = command{
	name:    "recv",
	summary: "wait for files that other clients send, and store them",
	synopsis: "recv ADDR --dir DIR --yes [--name NICK] [--json]\n" +
		"   or: muxfer recv ADDR --stdout --yes [--name NICK] [--json]\n\n" +
		"Connects to the hub as NICK and stores in DIR every file another client sends\n" +
		"to NICK (muxfer send ADDR --to NICK PATH...), checked and verified as the hub\n" +
		"checks uploads, until interrupted. --yes accepts every offer without asking\n" +
		"(asking is not there yet, so it is required).\n" +
		"With --stdout, recv takes one file, writes it to standard output once it is\n" +
		"verified, and exits; it declines offers of folders or of several files, telling\n" +
		"their sender why. The file is kept in the temporary folder ($TMPDIR, or /tmp)\n" +
		"until then, so it needs that much room there. Messages go to stderr.",
	examples: "  muxfer recv hub.example:7878 --name bob --dir ~/incoming --yes\n" +
		"  muxfer recv 127.0.0.1:7878 --name bob --dir drop --yes --json | jq .\n" +
		"  muxfer recv hub.example:7878 --name bob --stdout --yes | tar x   # from send --to bob --stdin NAME\n",
	define: func(fs *flag.FlagSet) action {
		r := &recvFlags{
			name: fs.String("name", defaultName(), "name to use on the hub, which senders give to --to (a clash gets a suffix)"),
			dir:  fs.String("dir", "", "store received files under `DIR` (created if missing)"),
			yes:  fs.Bool("yes", false, "accept every offer without asking"),
			stdout: fs.Bool("stdout", false, "receive one file and write it to standard output, once verified, instead of into --dir;\n"+
				"messages, JSON too, go to stderr"),
			json: fs.Bool("json", false, "print one JSON object per line on stdout for every event"),
			keys: addKeyFlags(fs),
		}
		return r.recv
	},
}

type recvFlags struct {
	name, dir *string
	yes, json *bool
	stdout    *bool // one file, to standard output (stdio.go)
	keys      keyFlags
}

// offerEvent is the JSON form of an offer the client accepted.
type offerEvent struct {
	Type  string `json:"type"` // "offer"
	From  string `json:"from"`
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"`
}

// receivedEvent is the JSON form of a file received.
type receivedEvent struct {
	Type string `json:"type"` // "received"
	protocol.Result
}

// recv receives files relayed to this client until interrupted or the
// connection ends, or with --stdout one file.
func (r *recvFlags) recv(e env, fs *flag.FlagSet, pos []string) error {
	switch {
	case len(pos) != 1:
		fs.Usage()
		return usageError{"want exactly one ADDR"}
	case *r.stdout && *r.dir != "":
		fs.Usage()
		return usageError{"--stdout and --dir: give one, --stdout writes the file to standard output"}
	case *r.dir == "" && !*r.stdout:
		fs.Usage()
		return usageError{"missing --dir (or --stdout)"}
	case !*r.yes:
		fs.Usage()
		return usageError{"--yes is required: recv cannot ask about each offer yet"}
	}
	out := e.stdout
	if *r.stdout {
		out = e.stderr // stdout carries the file's bytes only
	}
	u, err := newUI(out, e.stderr, *r.json, "never")
	if err != nil {
		return err
	}
	cfg, _, err := r.keys.muxConfig(e, false)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
	defer cancel()
	conf := client.Config{Name: *r.name, Software: software(), OnMessage: u.message, Mux: cfg,
		Inbox: *r.dir,
		OnOffer: func(o protocol.Offer) client.Decision {
			ev := offerEvent{Type: "offer", From: o.From}
			for _, f := range o.Files {
				if !f.Dir {
					ev.Files++
					ev.Bytes += f.Size
				}
			}
			u.event(ev, fmt.Sprintf("* accepted %s from %s (%s)", plural(ev.Files, "file"), safe(o.From), size(ev.Bytes)))
			return client.Accept
		},
		OnReceived: func(res protocol.Result) {
			text := fmt.Sprintf("received %s %.23s…", safe(res.Stored), res.Hash)
			if res.Error != "" {
				text = "FAILED " + safe(res.Error)
			}
			u.event(receivedEvent{Type: "received", Result: res}, text)
		},
	}
	var one *oneFile
	if *r.stdout {
		if one, err = newOneFile(u); err != nil {
			return err
		}
		defer one.remove() // after c.Close, deferred below
		one.wrap(&conf)
	}
	c, err := client.Dial(dctx, pos[0], conf)
	if err != nil {
		return err
	}
	defer c.Close()
	if one != nil {
		one.connected(c)
	}
	u.event(map[string]any{"type": "welcome", "name": c.Name(), "id": c.ID(), "addr": pos[0]},
		fmt.Sprintf("* connected to %s as %s; waiting for files", pos[0], safe(c.Name())))
	if one != nil {
		return one.deliver(e.ctx, e.stdout)
	}
	select {
	case <-e.ctx.Done():
		return e.ctx.Err()
	case <-c.Done():
		return fmt.Errorf("%w: %w", errConnLost, c.Err())
	}
}
