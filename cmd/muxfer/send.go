package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/transfer"
)

// clientFlags are the flags shared by send and chat.
type clientFlags struct {
	name     *string
	json     *bool
	progress *string
	parallel *int
	keys     keyFlags
	mux      mux.Config // set by parse

	reconnect    *bool
	reconnectMax *time.Duration
	giveUp       *time.Duration
}

func addClientFlags(fs *flag.FlagSet, defaultName string) clientFlags {
	return clientFlags{
		name:     fs.String("name", defaultName, "name to use on the hub (a clash gets a suffix)"),
		json:     fs.Bool("json", false, "print one JSON object per line on stdout for every event"),
		progress: fs.String("progress", "auto", "progress bar on stderr: auto (when a terminal), always or never"),
		parallel: fs.Int("parallel", 4, "files sent at once, each on its own stream (at most 64)"),
		keys:     addKeyFlags(fs),

		reconnect:    fs.Bool("reconnect", true, "reconnect when the connection is lost (keeping the name, resuming transfers)"),
		reconnectMax: fs.Duration("reconnect-max", 10*time.Second, "longest wait between attempts to reconnect"),
		giveUp:       fs.Duration("give-up", 2*time.Minute, "stop trying to reconnect after this long"),
	}
}

// backoff is the reconnect schedule the flags ask for.
func (cf *clientFlags) backoff() client.Backoff {
	return client.Backoff{Max: *cf.reconnectMax, GiveUp: *cf.giveUp}
}

// parse parses the command line, checks that at least min positional
// arguments (described by what) are there, and sets up the output.
func (cf *clientFlags) parse(e env, fs *flag.FlagSet, args []string, min int, what string) ([]string, *ui, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) < min {
		fs.Usage()
		return nil, nil, usageError{"missing " + what}
	}
	u, err := newUI(e.stdout, e.stderr, *cf.json, *cf.progress)
	if err != nil {
		return nil, nil, err
	}
	if cf.mux, _, err = cf.keys.muxConfig(e, false); err != nil {
		return nil, nil, err
	}
	if cf.mux.InsecureNoTLS {
		fmt.Fprintln(e.stderr, "muxfer: WARNING: --insecure-no-tls: this connection is not encrypted and the hub is not authenticated")
	}
	return pos, u, nil
}

func runSend(e env, args []string) error {
	fs := newFlags(e, "send", "send ADDR PATH... [--parallel N] [--json] [--progress auto|always|never] [--reconnect=false]",
		"  muxfer send hub.example:7878 photos/ notes.txt     # arrives as DIR/photos/... and DIR/notes.txt\n"+
			"  muxfer send 127.0.0.1:7878 build.tar --json | jq .\n"+
			"A lost connection is dialled again (see --reconnect-max, --give-up) and every file\n"+
			"resumes where the hub holds it; running the same send again after a crash does too.\n")
	cf := addClientFlags(fs, defaultName())
	pos, u, err := cf.parse(e, fs, args, 2, "ADDR and at least one PATH")
	if err != nil {
		return err
	}
	m, err := scan(u, pos[1:])
	if err != nil {
		return err
	}
	key, err := resumeKey(e, cf.mux, pos[0])
	if err != nil {
		key = nil
		fmt.Fprintf(e.stderr, "muxfer: no resume key (%v): a send cut by a crash starts again from the beginning\n", err)
	}
	name := *cf.name
	dial := func(ctx context.Context) (*client.Client, error) {
		c, err := connect(ctx, pos[0], name, cf.mux, u)
		if err == nil {
			name = c.Name() // keep it across reconnects
		}
		return c, err
	}
	opt := client.DeliverOptions{
		SendOptions: transfer.SendOptions{Parallel: *cf.parallel, Observer: u.observer(), ResumeKey: key},
		Backoff:     cf.backoff(),
		NoReconnect: !*cf.reconnect,
		OnLost:      u.lost,
		OnRetry:     u.retry,
	}
	rep, err := client.Deliver(e.ctx, dial, m, opt)
	return u.finish(rep, err)
}

// scan builds the manifest and reports what it skipped.
func scan(u *ui, paths []string) (*transfer.Manifest, error) {
	m, skipped, err := transfer.Scan(paths...)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		u.event(map[string]string{"type": "skipped", "path": s.Path, "reason": s.Reason},
			fmt.Sprintf("skipped %s: %s", safe(s.Path), safe(s.Reason)))
	}
	return m, nil
}

func connect(ctx context.Context, addr, name string, cfg mux.Config, u *ui) (*client.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := client.Dial(dctx, addr, client.Config{Name: name, Software: software(), OnMessage: u.message, Mux: cfg})
	if err != nil {
		return nil, err
	}
	u.event(map[string]any{"type": "welcome", "name": c.Name(), "id": c.ID(), "addr": addr},
		fmt.Sprintf("* connected to %s as %s", addr, safe(c.Name())))
	return c, nil
}

// upload sends m over c with a progress bar and per-file lines, prints
// the summary, and returns errFilesFailed if any file was not verified.
func upload(ctx context.Context, c *client.Client, u *ui, m *transfer.Manifest, opt transfer.SendOptions) error {
	opt.Observer = u.observer()
	rep, err := c.Upload(ctx, m, opt)
	return u.finish(rep, err)
}
