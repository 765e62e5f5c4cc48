package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/protocol"
	"github.com/spf13/cobra"
)

const chatHelp = `commands: /msg NICK TEXT        send TEXT to NICK only
          /nick NAME           change your name
          /who                 list connected clients, their idle time, running transfers and keys
          /send NICK PATH...   send files and folders to NICK, who is asked first
          /upload PATH...      store files and folders on the hub
          /accept [N]          receive offer N (the only one waiting, without N) into --dir
          /decline [N] [WHY]   refuse offer N, telling its sender why
          /offers [N]          list the offers waiting, or every entry of offer N
          /ls [PATH]           list the files on the hub that you may get
          /get PATH...         download files and folders from the hub into --dir
          /help                this text
          /quit                leave (transfers still running are cancelled; /exit too)
anything else is sent as a chat message to everyone`

func chatCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "chat with everyone on a hub; /send files alongside",
		Long: "chat ADDR [--name NICK] [--dir DIR] [--limit-rate RATE] [--json] [--progress auto|always|never]\n\n" +
			"Files others send you (/send NICK PATH..., muxfer send --to NICK) wait for /accept\n" +
			"and go into --dir, checked and verified as the hub checks uploads.\n" +
			"Each /send and /upload is a transfer of its own: --limit-rate caps each, not their sum.\n\n" + deadPeerNote,
		Example: "  muxfer chat hub.example:7878 --name alice\n" +
			"  muxfer chat hub.example:7878 --name bob --dir ~/incoming   # /accept files into ~/incoming\n" +
			"  printf 'hello\\n/upload build.log\\n' | muxfer chat 127.0.0.1:7878 --json   # scripted\n" +
			"  muxfer chat hub.example:7878 --key-file ~/.config/muxfer/work.key --reconnect=false\n",
	}
	cf := addClientFlags(cmd)
	dir := cmd.Flags().String("dir", ".", "store the files of offers you /accept under `DIR` (created if missing)")
	_ = cmd.RegisterFlagCompletionFunc("dir", folders)
	keep := keepPartialFlag(cmd)
	cmd.RunE = func(_ *cobra.Command, pos []string) error { return cf.chat(e, pos, *dir, *keep) }
	return cmd
}

// chat joins the hub at pos[0] and chats until stdin ends or /quit.
// Accepted files go into dir, whose parts older than keep are removed.
func (cf *clientFlags) chat(e env, pos []string, dir string, keep time.Duration) error {
	u, err := cf.setup(e, pos, "ADDR")
	if err != nil {
		return err
	}
	defer u.close()
	s, v, err := cf.connect(e, u, pos[0], client.SessionConfig{Dir: dir, KeepParts: keep})
	if err != nil {
		return err
	}
	defer s.Close()
	if f, ok := e.stdin.(*os.File); ok && isTerminal(f) && !*cf.json {
		u.print(strings.Split(chatHelp, "\n")...)
	}
	c := &chatSession{s: s, u: u, v: v, send: client.SendOptions{Parallel: *cf.parallel, LimitRate: int64(*cf.limitRate)}}
	v.onSent = c.sent
	v.onGot = func(client.GetDone, error) { c.running-- }
	c.here(e.ctx)
	return c.run(e)
}

// chatSession runs one chat: it reads lines from stdin and the session's
// events in one loop, and runs sends in the background.
type chatSession struct {
	s       *client.Session
	u       *ui
	v       *view
	send    client.SendOptions // for /send and /upload
	sends   sync.WaitGroup
	running int // sends whose SendDone has not been drawn yet
}

func (c *chatSession) run(e env) error {
	defer c.u.closeInput() // the terminal is restored before chat returns
	ctx, cancel := context.WithCancel(e.ctx)
	defer func() {
		cancel()
		c.sends.Wait()
	}()
	lines := make(chan string)
	readErr := make(chan error, 1)
	// The reader ends at the end of stdin. If the session ends first, it
	// stays blocked in Read until the process exits: a read from a terminal
	// cannot be interrupted portably.
	go func() {
		defer close(lines)
		readErr <- c.u.readLines(ctx, e.stdin, lines)
	}()
	events := c.s.Events()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				if err := <-readErr; err != nil {
					cancel()
					c.settle(events)
					return fmt.Errorf("reading stdin: %w", err)
				}
				lines = nil // stdin ended: the sends running finish
				if c.running == 0 {
					return c.leave(events)
				}
				continue
			}
			if c.handle(ctx, line) {
				cancel() // /quit cancels the sends still running
				c.settle(events)
				return c.leave(events)
			}
		case ev, ok := <-events:
			if !ok {
				return fmt.Errorf("%w: %w; lines typed since were not sent", errConnLost, c.s.Err())
			}
			c.v.show(ev)
			if conn, ok := ev.(client.Connected); ok && conn.Again {
				c.here(ctx)
			}
			if lines == nil && c.running == 0 {
				return c.leave(events)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// settle draws the events of the sends still running until each has
// ended (they were cancelled), or the session has.
func (c *chatSession) settle(events <-chan client.Event) {
	for c.running > 0 {
		ev, ok := <-events
		if !ok {
			return
		}
		c.v.show(ev)
	}
}

// leave ends the chat: it draws what the hub said before goodbye (the
// answer to a /msg to nobody, say), and says whether every file went.
func (c *chatSession) leave(events <-chan client.Event) error {
	c.s.Leave()
	for ev := range events {
		c.v.show(ev)
	}
	return c.result()
}

func (c *chatSession) result() error {
	if c.v.failed > 0 {
		return errFilesFailed
	}
	return nil
}

// handle acts on one line and reports whether the user asked to quit.
func (c *chatSession) handle(ctx context.Context, line string) (quit bool) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return false
	}
	if strings.HasPrefix(line, "/") {
		return c.command(ctx, line)
	}
	if err := c.s.Chat(line); err != nil {
		c.u.problem(err)
	} else if c.u.json {
		// A script sees its own line in order with everyone's; a person
		// sees it as typed.
		c.u.event(map[string]string{"type": "sent", "text": line})
	}
	return false
}

// who asks the hub who is there and waits for the answer, so that a
// script's next line sees it printed. A failure is shown, and ok is false.
func (s *chatSession) who(ctx context.Context) (list []client.Peer, ok bool) {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := s.s.Who(wctx)
	if err != nil {
		s.u.complain(err.Error(), "! who: "+err.Error())
		return nil, false
	}
	return list, true
}

// here shows who else is on the hub, as the chat starts and after each
// reconnect: one line, or a "here" event with the clients' entries.
func (s *chatSession) here(ctx context.Context) {
	list, ok := s.who(ctx)
	if !ok {
		return
	}
	others := make([]client.Peer, 0, len(list))
	var names []string
	for _, c := range list {
		if c.ID != s.s.ID() {
			others = append(others, c)
			names = append(names, c.Name)
		}
	}
	text := "* nobody else is here"
	if len(names) > 0 {
		text = fmt.Sprintf("* here: %s (%s)", strings.Join(names, ", "), plural(len(names), "other"))
	}
	s.u.event(map[string]any{"type": "here", "clients": others}, text)
}

// command runs a /command line and reports whether it was /quit.
func (s *chatSession) command(ctx context.Context, line string) (quit bool) {
	cmd, rest, _ := strings.Cut(line[1:], " ")
	switch cmd {
	case "quit", "exit":
		return true
	case "who":
		if list, ok := s.who(ctx); ok {
			s.u.message(protocol.Clients{Clients: list})
		}
	case "help":
		s.u.print(strings.Split(chatHelp, "\n")...)
	case "msg":
		s.direct(rest)
	case "nick":
		s.rename(ctx, strings.TrimSpace(rest))
	case "upload":
		paths, err := splitArgs(rest)
		if err == nil && len(paths) == 0 {
			err = errors.New("usage: /upload PATH [PATH...]")
		}
		if err != nil {
			s.u.problem(err)
			return false
		}
		s.startUpload(ctx, "", paths)
	case "send":
		args, err := splitArgs(rest)
		if err == nil && len(args) < 2 {
			err = errors.New("usage: /send NICK PATH... (to store files on the hub: /upload PATH...)")
		}
		if err != nil {
			s.u.problem(err)
			return false
		}
		s.startUpload(ctx, args[0], args[1:])
	case "accept", "decline":
		s.v.answer(s.s, rest, cmd == "accept")
	case "offers":
		s.v.list(s.s, rest)
	case "ls":
		s.listIn(ctx, rest)
	case "get":
		s.startGet(ctx, rest)
	default:
		s.u.complain("unknown command /"+cmd, fmt.Sprintf("! unknown command /%s (try /help)", cmd))
	}
	return false
}

// direct sends "NICK TEXT" as a direct message to NICK, end to end, and
// shows it as sent.
func (s *chatSession) direct(rest string) {
	to, text, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	if to == "" || text == "" {
		s.u.problem(errors.New("usage: /msg NICK TEXT"))
		return
	}
	if err := s.s.Message(to, text); err != nil {
		var changed *client.KeyChangedError
		switch {
		case errors.As(err, &changed): // a KeyChanged event says it, louder
		case errors.Is(err, client.ErrRecipientAway):
			s.u.complain(err.Error(), "! "+err.Error())
		default:
			s.u.complain(err.Error(), "! msg: "+err.Error())
		}
		return
	}
	s.u.event(map[string]string{"type": "sent", "to": to, "text": text},
		fmt.Sprintf("[private to %s] <%s> %s", to, s.s.Name(), text))
}

// rename asks the hub for a new name and shows the answer. A refusal
// leaves the name as it was.
func (s *chatSession) rename(ctx context.Context, name string) {
	if name == "" {
		s.u.problem(errors.New("usage: /nick NAME"))
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	got, err := s.s.Rename(rctx, name)
	cancel()
	if err != nil {
		s.u.complain(err.Error(), "! nick: "+err.Error())
		return
	}
	s.u.event(map[string]string{"type": "nick", "name": got}, "* you are now "+got)
}

// startUpload sends paths to the client called to, or to the hub if to
// is "", on a goroutine of the session's; its events draw it.
func (s *chatSession) startUpload(ctx context.Context, to string, paths []string) {
	m, err := scan(s.u, paths)
	if err != nil {
		s.u.problem(err)
		s.v.failed++
		return
	}
	opt := s.send
	opt.To = to
	s.running++
	s.sends.Go(func() { s.s.Send(ctx, m, opt) })
}

// sent is the view's word that a send ended, with its summary printed and
// err its outcome.
func (s *chatSession) sent(d client.SendDone, err error) {
	s.running--
	switch {
	case err == nil || errors.Is(err, errFilesFailed): // each failed file has its line
	case errors.Is(err, client.ErrRecipientAway) && d.Report.Accepted:
		s.u.problem(fmt.Errorf("%w; /send the same paths when %s is back to resume", err, d.To))
	case errors.Is(err, client.ErrRecipientAway):
		s.u.problem(fmt.Errorf("%w (to store files on the hub: /upload PATH...)", err))
	default:
		s.u.problem(err)
	}
}

// splitArgs splits a command line into words the way a shell would for
// the simple cases: spaces separate, quotes group, a backslash escapes.
func splitArgs(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord, quote, escaped := false, rune(0), false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, errors.New("unfinished quote or escape")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

func isTerminal(f *os.File) bool { return termIsTerminal(int(f.Fd())) }

// defaultName is the local user's name, or "guest".
func defaultName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "guest"
}
