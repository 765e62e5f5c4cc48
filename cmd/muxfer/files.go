package main

// Files on the hub: muxfer ls and muxfer get, and the chat's /ls and
// /get, over client.Session's List and Get.

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/spf13/cobra"
)

func lsCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "list the files on the hub that you may get",
		Long: "ls ADDR [PATH] [--recursive] [--json] [--name NICK]\n\n" +
			"Lists what the hub lets you read in PATH (its top without it): by default the\n" +
			"files your identity uploaded, and the folders the hub shares (see serve --read).\n" +
			"Each line: mode, size, time, who uploaded it (\"-\" if the hub did not record it),\n" +
			"and its path, a folder with \"/\" after it. muxfer get takes the same paths.",
		Example: "  muxfer ls hub.example:7878                 # what is at the top\n" +
			"  muxfer ls hub.example:7878 photos --recursive\n" +
			"  muxfer ls 127.0.0.1:7878 --json | jq -r .path\n",
	}
	recursive := cmd.Flags().BoolP("recursive", "r", false, "list everything under PATH, not only what is directly in it")
	asking(e, cmd, "ls takes ADDR and at most one PATH", 1, "for each entry", func(s *client.Session, u *ui, pos []string) error {
		path := ""
		if len(pos) == 1 {
			path = pos[0]
		}
		list, err := s.List(e.ctx, path, *recursive)
		printEntries(u, list)
		return err
	})
	return cmd
}

// asking sets up cmd, a command that asks the hub something and prints
// the answer (ls, held): its flags --name, --json and the keys, and a
// RunE that checks ADDR and at most more arguments (else usage), connects
// without drawing the welcome and without reconnecting, and runs do with
// the arguments after ADDR. jsonWhat says what --json prints an object
// for.
func asking(e env, cmd *cobra.Command, usage string, more int, jsonWhat string, do func(*client.Session, *ui, []string) error) {
	fs := cmd.Flags()
	name := fs.String("name", defaultName(), "name to use on the hub")
	jsonOut := fs.Bool("json", false, "print one JSON object per line on stdout "+jsonWhat)
	keys := addClientKeyFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		switch {
		case len(pos) == 0:
			return usageError{"missing ADDR"}
		case len(pos) > 1+more:
			return usageError{fmt.Sprintf("unexpected argument %q: %s", pos[1+more], usage)}
		}
		u, err := newUI(e.stdout, e.stderr, *jsonOut, "never")
		if err != nil {
			return err
		}
		defer u.close()
		cf, err := quietFlags(e, pos[0], name, cmd.Flags().Changed("name"), jsonOut, keys)
		if err != nil {
			return err
		}
		s, _, err := cf.connectQuietly(e, u, pos[0])
		if err != nil {
			return err
		}
		defer s.Close()
		return do(s, u, pos[1:])
	}
}

func getCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "download files and folders from the hub",
		Long: "get ADDR PATH... [--dir DIR] [--parallel N] [--json] [--name NICK]\n\n" +
			"Downloads from the hub what muxfer ls lists, into DIR: a folder \"a/b\" arrives as\n" +
			"\"b\" with everything in it, as scp -r names it. Each file is checked as an offer\n" +
			"is (no path leaves DIR, nothing there is overwritten: a name taken gets a number),\n" +
			"kept as a .part until its hash is verified, and given its mode and time. A get cut\n" +
			"by a lost connection is made again once it is back, and the same get run later\n" +
			"resumes each file where DIR holds it; files that arrived whole are confirmed, not\n" +
			"sent again.",
		Example: "  muxfer get hub.example:7878 photos --dir ~/photos\n" +
			"  muxfer get hub.example:7878 builds/app.tar notes.txt --parallel 8\n" +
			"  muxfer get 127.0.0.1:7878 logs --dir /tmp/logs --json | jq .\n",
	}
	cf := addClientFlags(cmd)
	dir := cmd.Flags().String("dir", ".", "store what arrives under `DIR` (created if missing)")
	keep := keepPartialFlag(cmd)
	_ = cmd.RegisterFlagCompletionFunc("dir", folders)
	cmd.RunE = func(_ *cobra.Command, pos []string) error {
		u, err := cf.setup(e, pos, "ADDR", "PATH")
		if err != nil {
			return err
		}
		defer u.close()
		s, v, err := cf.connect(e, u, pos[0], client.SessionConfig{})
		if err != nil {
			return err
		}
		defer s.Close()
		var result error
		got := false
		v.onGot = func(_ client.GetDone, err error) { result, got = err, true }
		go s.Get(e.ctx, *dir, pos[1:], client.GetOptions{Parallel: *cf.parallel, KeepParts: *keep})
		for ev := range s.Events() {
			v.show(ev)
			if got {
				return result
			}
		}
		return fmt.Errorf("%w: %w", errConnLost, s.Err())
	}
	return cmd
}

// quietFlags are the client flags of a command that only asks the hub
// something (ls): a name, --json and the keys, and no reconnecting.
func quietFlags(e env, addr string, name *string, named bool, jsonOut *bool, keys keyFlags) (*clientFlags, error) {
	access, err := keys.clientAccess(e, addr)
	if err != nil {
		return nil, err
	}
	zero, no, never := 0, false, "never"
	return &clientFlags{name: name, named: func() bool { return named }, json: jsonOut, progress: &never, parallel: &zero,
		limitRate: new(byteSize), access: access, reconnect: &no, reconnectMax: new(time.Duration), giveUp: new(time.Duration)}, nil
}

// connectQuietly is connect without the welcome line.
func (cf *clientFlags) connectQuietly(e env, u *ui, addr string) (*client.Session, *view, error) {
	cf.quiet = true
	return cf.connect(e, u, addr, client.SessionConfig{NoReconnect: true})
}

// entryEvent is the JSON form of an entry of ls.
type entryEvent struct {
	Type string `json:"type"` // "entry"
	client.Entry
}

// printEntries prints a listing, one entry a line.
func printEntries(u *ui, list []client.Entry) {
	for _, e := range list {
		by := e.By
		if by == "" {
			by = "-"
		}
		mode := fs.FileMode(e.Mode).Perm()
		sz, name := size(e.Size), e.Path
		if e.Dir {
			mode |= fs.ModeDir
			sz, name = "-", name+"/"
		}
		u.event(entryEvent{Type: "entry", Entry: e}, fmt.Sprintf("%s %10s  %s  %-12s %s",
			mode, sz, time.Unix(0, e.MTime).Format("2006-01-02 15:04"), safe(by), safe(name)))
	}
}

// showGet draws the events of a get; it reports whether ev was one.
func (v *view) showGet(ev client.Event) bool {
	switch ev := ev.(type) {
	case client.GetOffered:
		d := v.gets[ev.Get]
		if d == nil || ev.Again {
			if d != nil {
				d.end()
			}
			d = v.u.download("get", 0, 0)
			v.gets[ev.Get] = d
		}
		d.more(ev.Files, ev.Bytes)
	case client.Progress:
		if d := v.gets[ev.Get]; ev.Get != 0 && d != nil {
			d.wrote(ev.Bytes, ev.Held)
		}
		return ev.Get != 0
	case client.FileDone:
		if ev.Get == 0 {
			return false
		}
		r := ev.Report
		text := fmt.Sprintf("got %s (%s) %.23s…", r.Path, size(r.Size), r.Hash)
		switch {
		case !r.OK():
			v.failed++
			text = fmt.Sprintf("%s %s: %s", strings.ToUpper(r.Status), r.Path, r.Err)
		case r.Stored != r.Path:
			text += " stored as " + r.Stored
		}
		if r.OK() && r.Resumed > 0 {
			text += fmt.Sprintf(" (%s of it here already)", size(r.Resumed))
		}
		v.event(fileEvent{Type: "got", FileReport: r}, text)
	case client.GetDone:
		if d := v.gets[ev.Get]; d != nil {
			d.end()
		}
		delete(v.gets, ev.Get)
		err := v.gotSummary(ev)
		if v.onGot != nil {
			v.onGot(ev, err)
		}
	default:
		return false
	}
	return true
}

// gotSummary prints the summary of a get and returns its error, or
// errFilesFailed if some file did not arrive.
func (v *view) gotSummary(ev client.GetDone) error {
	rep := ev.Report
	failed := rep.Failed()
	var held int64
	for _, f := range rep.Files {
		if f.OK() {
			held += f.Resumed
		}
	}
	rate := 0.0
	if s := rep.Elapsed.Seconds(); s > 0 {
		rate = float64(rep.Bytes-held) / s
	}
	j := summaryEvent{Type: "summary", Files: len(rep.Files), Failed: failed, Dirs: rep.Dirs, Bytes: rep.Bytes,
		Resumed: held, Seconds: rep.Elapsed.Seconds(), Rate: rate, List: rep.Files}
	if ev.Err != nil {
		j.Error = ev.Err.Error()
	}
	text := fmt.Sprintf("got %d of %d files (%s) in %s, %s/s", len(rep.Files)-failed, len(rep.Files), size(rep.Bytes),
		rep.Elapsed.Round(time.Millisecond), size(int64(rate)))
	v.event(j, text)
	switch {
	case ev.Err != nil:
		v.failed++
		return ev.Err
	case failed > 0:
		return errFilesFailed
	}
	return nil
}

// more adds files and bytes to a download's line: the next offer of a
// get.
func (p *progressLine) more(files int, bytes int64) {
	p.u.mu.Lock()
	defer p.u.mu.Unlock()
	if p.m != nil {
		p.m.files += files
		p.m.total += bytes
		p.u.changedLocked(false)
	}
}

// listIn runs the chat's /ls: it waits for the listing and prints it.
func (s *chatSession) listIn(ctx context.Context, rest string) {
	args, err := splitArgs(rest)
	if err == nil && len(args) > 1 {
		err = fmt.Errorf("usage: /ls [PATH]")
	}
	if err != nil {
		s.u.problem(err)
		return
	}
	path := ""
	if len(args) == 1 {
		path = args[0]
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	list, err := s.s.List(lctx, path, false)
	printEntries(s.u, list)
	if err != nil {
		s.u.complain(err.Error(), "! ls: "+err.Error())
	} else if len(list) == 0 {
		s.u.event(map[string]string{"type": "empty", "path": path}, "* nothing there that you may get")
	}
}

// startGet runs the chat's /get on a goroutine of the session's, into
// the chat's --dir; its events draw it.
func (s *chatSession) startGet(ctx context.Context, rest string) {
	paths, err := splitArgs(rest)
	if err == nil && len(paths) == 0 {
		err = fmt.Errorf("usage: /get PATH... (what /ls lists; it goes into %s)", s.v.dir)
	}
	if err != nil {
		s.u.problem(err)
		return
	}
	s.running++
	s.sends.Go(func() { s.s.Get(ctx, s.v.dir, paths, client.GetOptions{Parallel: s.send.Parallel}) })
}

// held says that the hub holds a send's files for people who are away.
func (v *view) held(ev client.SendDone) {
	h := ev.Held
	files := 0
	for _, f := range ev.Report.Files {
		if f.OK() {
			files++
		}
	}
	who := strings.Join(h.To, " and ")
	text := fmt.Sprintf("* %s is offline: the hub holds %s for them until %s (id %s)", who, plural(files, "file"), h.Expires.Format("Jan 2"), h.ID)
	if len(h.To) > 1 {
		text = fmt.Sprintf("* the hub holds %s for %s until %s (id %s)", plural(files, "file"), who, h.Expires.Format("Jan 2"), h.ID)
	}
	v.event(map[string]any{"type": "held", "id": h.ID, "to": h.To, "files": files, "expires": h.Expires.Unix()}, text)
}

func heldCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "held",
		Short: "list, or withdraw, the files the hub holds for people who were offline",
		Long: "held ADDR [--withdraw ID] [--json] [--name NICK]\n\n" +
			"Lists the files you sent to people who were not connected, which the hub holds for\n" +
			"them, sealed (muxfer send ADDR --to NICK PATH...): each transfer's id, for whom, and\n" +
			"whether each has taken or declined it yet. --withdraw ID deletes one from the hub.",
		Example: "  muxfer held hub.example:7878\n" +
			"  muxfer held hub.example:7878 --withdraw 5f0c2a9e1b7d4c3a8e6f0b1d2c3e4f5a\n",
	}
	withdraw := cmd.Flags().String("withdraw", "", "delete the held transfer `ID` from the hub")
	asking(e, cmd, "held takes one ADDR", 0, "for each held transfer", func(s *client.Session, u *ui, _ []string) error {
		list, err := s.Holds(e.ctx, *withdraw)
		if err == nil && *withdraw != "" {
			u.event(map[string]string{"type": "withdrawn", "id": *withdraw}, "* withdrawn: "+*withdraw)
		}
		for _, h := range list {
			var to []string
			for _, p := range h.To {
				to = append(to, fmt.Sprintf("%s (%s)", p.Name, p.State))
			}
			u.event(holdEvent{Type: "hold", Hold: h}, fmt.Sprintf("%s  %s, %s, to %s; held since %s, until %s", h.ID, plural(h.Streams, "file"),
				size(h.Bytes), safe(strings.Join(to, ", ")), time.Unix(h.Created, 0).Format("Jan 2 15:04"), time.Unix(h.Expires, 0).Format("Jan 2 15:04")))
		}
		if len(list) == 0 && err == nil {
			u.event(map[string]string{"type": "none"}, "* the hub holds nothing you sent")
		}
		return err
	})
	return cmd
}

// holdEvent is the JSON form of a held transfer in muxfer held.
type holdEvent struct {
	Type string `json:"type"` // "hold"
	client.Hold
}
