package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/spf13/cobra"
)

func demoCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "run a hub and two clients on loopback with testdata/",
		Long:  "demo [--data DIR] [--progress auto|always|never]",
		Example: "  go run ./cmd/muxfer demo          # from the repository root, sends testdata/\n" +
			"  muxfer demo --data ~/Pictures --progress never\n",
		Args: noArgs,
	}
	data := cmd.Flags().String("data", "testdata", "the folder (`DIR`) that alice sends")
	_ = cmd.RegisterFlagCompletionFunc("data", folders)
	progress := addProgressFlag(cmd)
	cmd.RunE = func(*cobra.Command, []string) error { return runDemo(e, *data, *progress) }
	return cmd
}

// runDemo starts a hub and two clients, alice and bob, in this process on
// loopback. They chat while alice uploads the data folder; then alice
// sends it to bob through the hub, and bob accepts it. Each time the demo
// compares every stored file with its source byte for byte.
func runDemo(e env, data, progress string) error {
	if info, err := os.Stat(data); err != nil || !info.IsDir() {
		return fmt.Errorf("demo: no folder %s here; run it from the repository root or pass --data DIR", data)
	}
	u, err := newUI(e.stdout, e.stderr, false, progress)
	if err != nil {
		return err
	}
	defer u.close()
	tmp, err := os.MkdirTemp("", "muxfer-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	d := &demo{e: e, u: u, hubDir: filepath.Join(tmp, "hub"), bobDir: filepath.Join(tmp, "bob"), key: client.NewKey(),
		aliceSaw: make(chan string, 16), bobSaw: make(chan string, 16), bobOffers: make(chan client.Offer, 1)}
	return d.run(data)
}

type demo struct {
	e                env
	u                *ui
	hubDir           string
	bobDir           string     // bob's inbox
	key              client.Key // made for the demo, shared by the hub and both clients
	alice, bob       *client.Session
	aliceSaw, bobSaw chan string       // chat texts each client received
	bobOffers        chan client.Offer // offers made to bob, waiting for his answer
	draws            sync.WaitGroup    // each session's events, drawn until it closes
}

func (d *demo) step(format string, args ...any) { d.u.line("demo  | "+format, args...) }

func (d *demo) run(data string) error {
	h, err := hub.New(hub.Config{Dir: d.hubDir, Software: software(), Key: d.key})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- h.Serve(ln) }()
	defer func() { h.Close(); <-served }()
	addr := ln.Addr().String()
	d.step("hub listening on %s (TLS 1.3, access key made for this demo), storing uploads in %s", addr, d.hubDir)

	ctx, cancel := context.WithTimeout(d.e.ctx, 2*time.Minute)
	defer cancel()
	defer d.draws.Wait() // after both sessions are closed, below
	if d.alice, err = d.join(ctx, addr, client.SessionConfig{Name: "alice"}, d.aliceSaw); err != nil {
		return err
	}
	defer d.alice.Close()
	if d.bob, err = d.join(ctx, addr, client.SessionConfig{Name: "bob", Dir: d.bobDir}, d.bobSaw); err != nil {
		return err
	}
	defer d.bob.Close()

	m, err := scan(d.u, []string{data})
	if err != nil {
		return err
	}
	files, bytes := m.Totals()
	if err := d.say(ctx, d.alice, d.bobSaw, fmt.Sprintf("hi bob, sending you %s: %d files, %s", filepath.Base(data), files, size(bytes))); err != nil {
		return err
	}
	uploaded := make(chan error, 1)
	go func() { uploaded <- sendAll(ctx, d.alice, m, client.SendOptions{Parallel: 4}) }()
	chatErr := d.say(ctx, d.bob, d.aliceSaw, "thanks! the chat keeps working while the files move")
	upErr := <-uploaded
	if err := errors.Join(chatErr, upErr); err != nil {
		return err
	}
	who, err := d.bob.Who(ctx)
	if err != nil {
		return err
	}
	d.step("the hub lists %d clients: %s and %s", len(who), who[0].Name, who[1].Name)

	dst := filepath.Join(d.hubDir, filepath.Base(mustAbs(data)))
	n, err := sameTree(data, dst)
	if err != nil {
		d.step("MISMATCH: %v", err)
		return err
	}
	if err := d.say(ctx, d.alice, d.bobSaw, fmt.Sprintf("done: the hub has all %d files, verified", n)); err != nil {
		return err
	}
	d.step("all %d files stored by the hub match %s byte for byte", n, data)
	return d.relay(ctx, data, m)
}

// sendAll sends m over s and returns errFilesFailed if some file was not
// delivered; the session's events draw it.
func sendAll(ctx context.Context, s *client.Session, m *client.Files, opt client.SendOptions) error {
	rep, err := s.Send(ctx, m, opt)
	if err == nil && rep.Failed() > 0 {
		err = errFilesFailed
	}
	return err
}

// relay has alice send m to bob end to end, on a channel through the
// hub, which can read and store none of it; bob sees the offer and
// accepts it, as a person would with /accept.
func (d *demo) relay(ctx context.Context, data string, m *client.Files) error {
	if err := d.say(ctx, d.alice, d.bobSaw, "and now straight to you, bob, end to end: the hub cannot read it"); err != nil {
		return err
	}
	sent := make(chan error, 1)
	go func() { sent <- sendAll(ctx, d.alice, m, client.SendOptions{Parallel: 4, To: "bob"}) }()
	select {
	case o := <-d.bobOffers:
		d.u.line("bob   | > /accept %d", o.N)
		if err := d.bob.Accept(o.N); err != nil {
			<-sent
			return err
		}
	case err := <-sent:
		return fmt.Errorf("demo: the offer never reached bob: %w", err)
	}
	if err := <-sent; err != nil {
		return err
	}
	n, err := sameTree(data, filepath.Join(d.bobDir, filepath.Base(mustAbs(data))))
	if err != nil {
		d.step("MISMATCH at bob: %v", err)
		return err
	}
	d.step("all %d files bob received match %s byte for byte", n, data)
	return nil
}

// join connects a session whose events are drawn with its name, and whose
// incoming chat lines are copied to saw, and offers to d.bobOffers.
func (d *demo) join(ctx context.Context, addr string, cfg client.SessionConfig, saw chan<- string) (*client.Session, error) {
	cfg.Software, cfg.Key = software(), d.key
	s, err := client.Connect(ctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	v := newView(d.u, cfg.Dir)
	v.tag = fmt.Sprintf("%-5s | ", cfg.Name)
	d.draws.Go(func() {
		for ev := range s.Events() {
			v.show(ev)
			switch ev := ev.(type) {
			case client.Message:
				select {
				case saw <- ev.Text:
				default:
				}
			case client.Offered:
				select {
				case d.bobOffers <- ev.Offer:
				default:
					s.Decline(ev.Offer.N, "")
				}
			}
		}
	})
	return s, nil
}

// say sends a chat line from s and waits until the other client has it.
func (d *demo) say(ctx context.Context, s *client.Session, other <-chan string, text string) error {
	d.u.line("%-5s | > %s", s.Name(), text)
	if err := s.Chat(text); err != nil {
		return err
	}
	select {
	case got := <-other:
		if got != text {
			return fmt.Errorf("demo: expected chat %q, got %q", text, got)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("demo: chat line %q not delivered: %w", text, ctx.Err())
	}
}

// sameTree compares every file and folder under want with got, byte for
// byte, and returns the number of files compared.
func sameTree(want, got string) (int, error) {
	n := 0
	seen := map[string]bool{}
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		seen[rel] = true
		other := filepath.Join(got, rel)
		switch {
		case d.IsDir():
			if info, err := os.Stat(other); err != nil || !info.IsDir() {
				return fmt.Errorf("folder %s missing on the hub", rel)
			}
		case d.Type().IsRegular():
			if err := sameFile(p, other); err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	err = filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(got, p); !seen[rel] {
			return fmt.Errorf("%s on the hub was never sent", rel)
		}
		return nil
	})
	return n, err
}

func sameFile(a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for off := int64(0); ; {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return fmt.Errorf("contents differ after byte %d", off)
		}
		off += int64(na)
		if ea != nil || eb != nil {
			if ea == eb || (ea == io.ErrUnexpectedEOF || ea == io.EOF) && (eb == io.ErrUnexpectedEOF || eb == io.EOF) {
				return nil
			}
			return errors.Join(ea, eb)
		}
	}
}

func mustAbs(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return abs
}
