package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/spf13/cobra"
)

// clientFlags are the flags shared by send and chat.
type clientFlags struct {
	name     *string
	named    func() bool // whether --name was given: otherwise name is a default
	json     *bool
	progress *string
	parallel *int
	// limitRate caps each transfer's file bytes a second (0: no limit).
	limitRate *byteSize
	keys      keyFlags
	access    access // set by setup

	to           *string // send only: another client to send to
	stdin        *string // send only: send standard input as one file of this name
	reconnect    *bool
	reconnectMax *time.Duration
	giveUp       *time.Duration
	quiet        bool // connect draws no welcome line (ls)
}

func addClientFlags(cmd *cobra.Command) clientFlags {
	fs := cmd.Flags()
	cf := clientFlags{
		name:      fs.String("name", defaultName(), "name to use on the hub (your identity's from its first use there; a clash with a\nconnected client gets a suffix)"),
		named:     func() bool { return fs.Changed("name") },
		json:      fs.Bool("json", false, "print one JSON object per line on stdout for every event"),
		progress:  addProgressFlag(cmd),
		parallel:  fs.Int("parallel", 4, "files sent at once, each on its own stream (at most 64)"),
		limitRate: new(byteSize),
		keys:      addClientKeyFlags(cmd),

		reconnect:    fs.Bool("reconnect", true, "reconnect when the connection is lost (keeping the name, resuming transfers)"),
		reconnectMax: fs.Duration("reconnect-max", 10*time.Second, "longest wait between attempts to reconnect"),
		giveUp:       fs.Duration("give-up", 2*time.Minute, "stop trying to reconnect after this long"),
	}
	fs.Var(cf.limitRate, "limit-rate", "send at most `RATE` bytes a second per transfer, all its files together, e.g. 500K, 10M, 1G (K=1024; 0: no limit)")
	return cf
}

// setup checks that the positional arguments named by need are there
// (need[i] names pos[i]), and sets up the output and the connection's
// settings.
func (cf *clientFlags) setup(e env, pos []string, need ...string) (*ui, error) {
	if len(pos) < len(need) {
		return nil, usageError{"missing " + strings.Join(need[len(pos):], " and ")}
	}
	u, err := newUI(e.stdout, e.stderr, *cf.json, *cf.progress)
	if err != nil {
		return nil, err
	}
	addr := ""
	if len(pos) > 0 {
		addr = pos[0]
	}
	if cf.access, err = cf.keys.clientAccess(e, addr); err != nil {
		u.close()
		return nil, err
	}
	if cf.access.InsecureNoTLS {
		printError(e.stderr, "WARNING: --insecure-no-tls: this connection is not encrypted and the hub is not authenticated")
	}
	return u, nil
}

func sendCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "send",
		Short: "upload files and folders to a hub, or send them to another client",
		Long: "send ADDR PATH... [--to NICK] [--parallel N] [--limit-rate RATE] [--json] [--progress auto|always|never] [--reconnect=false]\n" +
			"   or: muxfer send ADDR --stdin NAME [--to NICK] [flags]\n\n" +
			"With --to, the files go end to end to the client called NICK (muxfer recv), which\n" +
			"stores and verifies them: the hub joins the two and can neither read nor keep them.\n" +
			"If NICK is offline, the hub holds the files for it, sealed to its identity and signed\n" +
			"with yours, until it connects (muxfer held lists what waits); --to bob,carol holds them\n" +
			"for both at once, stored once.\n" +
			"A lost connection is dialled again (see --reconnect-max, --give-up) and every file\n" +
			"resumes where the hub holds it; running the same send again after a crash does too.\n" +
			"With --stdin, standard input is sent as one file called NAME. It is stored in the\n" +
			"temporary folder first ($TMPDIR, or /tmp), so it needs that much room there, and the\n" +
			"transfer starts when standard input ends; the copy is removed when send exits.\n\n" + deadPeerNote,
		Example: "  muxfer send hub.example:7878 photos/ notes.txt     # arrives as DIR/photos/... and DIR/notes.txt\n" +
			"  tar c src | muxfer send hub.example:7878 --stdin src.tar   # standard input, arrives as DIR/src.tar\n" +
			"  muxfer send hub.example:7878 big.iso --limit-rate 2M   # at most 2 MiB/s, like curl --limit-rate\n" +
			"  muxfer send hub.example:7878 --to bob,carol photos/     # to bob and carol, now or when they connect\n",
		// ADDR, then PATHs: names on disk.
		ValidArgsFunction: func(cmd *cobra.Command, pos []string, typed string) ([]string, cobra.ShellCompDirective) {
			if len(pos) == 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return anyFile(cmd, pos, typed)
		},
	}
	cf := addClientFlags(cmd)
	cf.to = cmd.Flags().String("to", "", "send to the person called `NICK` (running muxfer recv) instead of the hub, end to end; if NICK is\n"+
		"offline, the hub holds the files for them, sealed to their identity; NICK,NICK... holds them for several")
	cf.stdin = cmd.Flags().String("stdin", "", "send standard input as one file called `NAME` instead of PATHs, as it is read (never resumed)")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error { return cf.send(e, cmd.Flags().Changed("stdin"), pos) }
	return cmd
}

// send uploads the paths in pos[1:], or standard input with --stdin, to
// the hub at pos[0].
func (cf *clientFlags) send(e env, stdin bool, pos []string) error {
	if stdin {
		return cf.sendStdin(e, pos)
	}
	u, err := cf.setup(e, pos, "ADDR", "PATH")
	if err != nil {
		return err
	}
	defer u.close()
	m, err := scan(u, pos[1:])
	if err != nil {
		return err
	}
	return cf.deliver(e, u, pos[0], m)
}

// connect opens a session to the hub at addr for a command, with the
// flags' name, key, reconnect schedule and resume secret, and draws its
// first event (the welcome line). cfg holds what the command adds: a
// folder to receive into, a decision for offers.
func (cf *clientFlags) connect(e env, u *ui, addr string, cfg client.SessionConfig) (*client.Session, *view, error) {
	cfg.Name, cfg.Software, cfg.Key, cfg.InsecureNoTLS = *cf.name, software(), cf.access.Key, cf.access.InsecureNoTLS
	cfg.HubKey, cfg.Invitation = cf.access.HubKey, cf.access.Invitation
	cfg.DefaultName = !cf.named()
	cfg.NoReconnect = cfg.NoReconnect || !*cf.reconnect
	cfg.Backoff = client.Backoff{Max: *cf.reconnectMax, GiveUp: *cf.giveUp}
	secret, err := resumeSecret(e)
	if err != nil {
		printError(e.stderr, fmt.Sprintf("no resume key (%v): a send cut by a crash starts again from the beginning", err))
	}
	cfg.ResumeSecret = secret
	if cfg.Identity, err = identity(e); err != nil {
		return nil, nil, err
	}
	if cfg.KnownPeers, err = knownPeers(e); err != nil {
		return nil, nil, err
	}
	s, err := client.Connect(e.ctx, addr, cfg)
	if err != nil {
		return nil, nil, err
	}
	if cfg.HubKey != nil {
		rememberHub(e, addr, cfg.HubKey) // the next time, no --hub-key or --invite is needed
	}
	v := newView(u, cfg.Dir)
	if ev := <-s.Events(); !cf.quiet { // Connected
		v.show(ev)
	}
	return s, v, nil
}

// deliver sends m to the hub at addr, or through it to --to, reconnecting
// and resuming as the flags say, and prints the summary.
func (cf *clientFlags) deliver(e env, u *ui, addr string, m *client.Files) error {
	s, v, err := cf.connect(e, u, addr, client.SessionConfig{})
	if err != nil {
		return err
	}
	defer s.Close()
	var result error
	sent := false
	v.onSent = func(_ client.SendDone, err error) { result, sent = err, true }
	go s.Send(e.ctx, m, client.SendOptions{To: *cf.to, Parallel: *cf.parallel, LimitRate: int64(*cf.limitRate)})
	for ev := range s.Events() {
		v.show(ev)
		if sent {
			return result
		}
	}
	return fmt.Errorf("%w: %w", errConnLost, s.Err())
}

// scan builds the manifest and reports what it skipped.
func scan(u *ui, paths []string) (*client.Files, error) {
	m, skipped, err := client.Paths(paths...)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		u.event(map[string]string{"type": "skipped", "path": s.Path, "reason": s.Reason},
			fmt.Sprintf("skipped %s: %s", s.Path, s.Reason))
	}
	return m, nil
}
