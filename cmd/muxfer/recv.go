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
	synopsis: "recv ADDR --dir DIR --yes [--name NICK] [--json]\n\n" +
		"Connects to the hub as NICK and stores in DIR every file another client sends\n" +
		"to NICK (muxfer send ADDR --to NICK PATH...), checked and verified as the hub\n" +
		"checks uploads, until interrupted. --yes accepts every offer without asking\n" +
		"(asking is not there yet, so it is required).",
	examples: "  muxfer recv hub.example:7878 --name bob --dir ~/incoming --yes\n" +
		"  muxfer recv 127.0.0.1:7878 --name bob --dir drop --yes --json | jq .\n",
	define: func(fs *flag.FlagSet) action {
		r := &recvFlags{
			name: fs.String("name", defaultName(), "name to use on the hub, which senders give to --to (a clash gets a suffix)"),
			dir:  fs.String("dir", "", "store received files under `DIR` (created if missing)"),
			yes:  fs.Bool("yes", false, "accept every offer without asking"),
			json: fs.Bool("json", false, "print one JSON object per line on stdout for every event"),
			keys: addKeyFlags(fs),
		}
		return r.recv
	},
}

type recvFlags struct {
	name, dir *string
	yes, json *bool
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
// connection ends.
func (r *recvFlags) recv(e env, fs *flag.FlagSet, pos []string) error {
	switch {
	case len(pos) != 1:
		fs.Usage()
		return usageError{"want exactly one ADDR"}
	case *r.dir == "":
		fs.Usage()
		return usageError{"missing --dir"}
	case !*r.yes:
		fs.Usage()
		return usageError{"--yes is required: recv cannot ask about each offer yet"}
	}
	u, err := newUI(e.stdout, e.stderr, *r.json, "never")
	if err != nil {
		return err
	}
	cfg, _, err := r.keys.muxConfig(e, false)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(e.ctx, 15*time.Second)
	defer cancel()
	c, err := client.Dial(dctx, pos[0], client.Config{Name: *r.name, Software: software(), OnMessage: u.message, Mux: cfg,
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
	})
	if err != nil {
		return err
	}
	defer c.Close()
	u.event(map[string]any{"type": "welcome", "name": c.Name(), "id": c.ID(), "addr": pos[0]},
		fmt.Sprintf("* connected to %s as %s; waiting for files", pos[0], safe(c.Name())))
	select {
	case <-e.ctx.Done():
		return e.ctx.Err()
	case <-c.Done():
		return fmt.Errorf("%w: %w", errConnLost, c.Err())
	}
}
