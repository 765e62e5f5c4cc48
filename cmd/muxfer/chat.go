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
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
	"github.com/spf13/pflag"
)

const chatHelp = `commands: /msg NICK TEXT        send TEXT to NICK only
          /nick NAME           change your name
          /who                 list connected clients, their idle time and running transfers
          /send NICK PATH...   send files and folders to NICK, who is asked first
          /upload PATH...      store files and folders on the hub
          /accept [N]          receive offer N (the only one waiting, without N) into --dir
          /decline [N] [WHY]   refuse offer N, telling its sender why
          /offers [N]          list the offers waiting, or every entry of offer N
          /help                this text
          /quit                leave (transfers still running are cancelled; /exit too)
anything else is sent as a chat message to everyone`

var chatCommand = command{
	name:    "chat",
	summary: "chat with everyone on a hub; /send files alongside",
	synopsis: "chat ADDR [--name NICK] [--dir DIR] [--limit-rate RATE] [--json] [--progress auto|always|never]\n\n" +
		"Files others send you (/send NICK PATH..., muxfer send --to NICK) wait for /accept\n" +
		"and go into --dir, checked and verified as the hub checks uploads.\n" +
		"Each /send and /upload is a transfer of its own: --limit-rate caps each, not their sum.",
	examples: "  muxfer chat hub.example:7878 --name alice\n" +
		"  muxfer chat hub.example:7878 --name bob --dir ~/incoming   # /accept files into ~/incoming\n" +
		"  printf 'hello\\n/upload build.log\\n' | muxfer chat 127.0.0.1:7878 --json   # scripted\n" +
		"  muxfer chat hub.example:7878 --key-file ~/.config/muxfer/work.key --reconnect=false\n",
	define: func(fs *pflag.FlagSet) action {
		cf := addClientFlags(fs, defaultName())
		dir := fs.String("dir", ".", "store the files of offers you /accept under `DIR` (created if missing)")
		keep := keepPartialFlag(fs)
		return func(e env, fs *pflag.FlagSet, pos []string) error { return cf.chat(e, fs, pos, *dir, *keep) }
	},
}

// chat joins the hub at pos[0] and chats until stdin ends or /quit.
// Accepted files go into dir, whose parts older than keep are removed.
func (cf *clientFlags) chat(e env, fs *pflag.FlagSet, pos []string, dir string, keep time.Duration) error {
	u, err := cf.setup(e, pos, "ADDR")
	if err != nil {
		return err
	}
	defer u.close()
	in := newInbox(u, dir)
	in.keep = keep
	dial := func(ctx context.Context, name string) (*client.Client, error) {
		return dialConfig(ctx, pos[0], in.config(client.Config{Name: name, Mux: cf.mux}, ask), u)
	}
	c, err := dial(e.ctx, *cf.name)
	if err != nil {
		return err
	}
	defer c.Close()
	if f, ok := e.stdin.(*os.File); ok && isTerminal(f) && !*cf.json {
		u.print(strings.Split(chatHelp, "\n")...)
	}
	key, err := resumeKey(e, cf.mux, pos[0])
	if err != nil {
		key = nil // uploads still work; a cut one starts again from the beginning
	}
	s := &chatSession{c: c, u: u, inbox: in, send: transfer.SendOptions{Parallel: *cf.parallel, LimitRate: int64(*cf.limitRate), ResumeKey: key},
		backoff: cf.backoff()}
	s.here(e.ctx)
	if *cf.reconnect {
		// The name of the connection being replaced: the last one /nick
		// gave, on whichever connection.
		s.redial = func(ctx context.Context) (*client.Client, error) { return dial(ctx, s.c.Name()) }
	}
	return s.run(e)
}

// chatSession runs one chat: it reads lines from stdin and runs uploads in
// the background, each owned by the session's WaitGroup.
type chatSession struct {
	c       *client.Client // replaced on reconnect; used by run's goroutine only
	u       *ui
	inbox   *inbox                                        // offers to this client, numbered for /accept
	send    transfer.SendOptions                          // for /send, without the observer
	redial  func(context.Context) (*client.Client, error) // nil: no reconnecting
	backoff client.Backoff

	uploads sync.WaitGroup
	mu      sync.Mutex
	failed  bool // some upload did not deliver every file
}

func (s *chatSession) run(e env) error {
	defer s.u.closeInput() // the terminal is restored before chat returns
	ctx, cancel := context.WithCancel(e.ctx)
	defer func() {
		cancel()
		s.uploads.Wait()
	}()
	lines := make(chan string)
	readErr := make(chan error, 1)
	// The reader ends at the end of stdin. If the session ends first, it
	// stays blocked in Read until the process exits: a read from a terminal
	// cannot be interrupted portably.
	go func() {
		defer close(lines)
		readErr <- s.u.readLines(ctx, e.stdin, lines)
	}()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				if err := <-readErr; err != nil {
					cancel()
					s.uploads.Wait()
					return fmt.Errorf("reading stdin: %w", err)
				}
				return s.finish(ctx)
			}
			quit, err := s.handle(ctx, line)
			if err != nil {
				return err
			}
			if quit {
				cancel() // /quit cancels the uploads still running
				s.uploads.Wait()
				return s.result()
			}
		case <-s.c.Done():
			if err := s.reconnect(ctx); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reconnect replaces a lost connection, keeping the name if the hub still
// has it free. Lines typed meanwhile wait in stdin and are sent once the
// connection is back; if it does not come back, they are not sent, and
// the error says so. A hub that refused the client (an error message) is
// not retried.
func (s *chatSession) reconnect(ctx context.Context) error {
	s.c.Close() // waits for its reader, so Err is set
	lost := s.c.Err()
	if lost == nil {
		lost = mux.ErrClosed
	}
	var refused *protocol.Error
	if s.redial == nil || errors.As(lost, &refused) {
		return fmt.Errorf("%w: %v", errConnLost, lost)
	}
	name := s.c.Name()
	s.u.event(map[string]string{"type": "disconnected", "reason": lost.Error()},
		fmt.Sprintf("* connection lost (%s); reconnecting", lost.Error()))
	c, err := s.backoff.Retry(ctx, s.redial, s.u.retry)
	if err != nil {
		return fmt.Errorf("%w: %v; lines typed since were not sent", errConnLost, err)
	}
	s.c = c
	s.inbox.forget() // the hub withdrew them with the old connection
	if c.Name() != name {
		s.u.line("* %s was taken; you are now %s", name, c.Name())
	}
	s.here(ctx)
	return nil
}

// finish waits for running uploads when stdin has ended.
func (s *chatSession) finish(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.uploads.Wait(); close(done) }()
	select {
	case <-done:
		return s.result()
	case <-s.c.Done():
		<-done
		return fmt.Errorf("%w: %v", errConnLost, s.c.Err())
	case <-ctx.Done():
		<-done
		return ctx.Err()
	}
}

func (s *chatSession) result() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed || s.inbox.failures() > 0 {
		return errFilesFailed
	}
	return nil
}

// handle acts on one line and reports whether the user asked to quit. Its
// error is a connection that was lost and could not be restored.
func (s *chatSession) handle(ctx context.Context, line string) (quit bool, err error) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return false, nil
	}
	if !strings.HasPrefix(line, "/") {
		err := s.c.Chat(line)
		if errors.Is(err, mux.ErrClosed) {
			// The connection went while the line was on its way: get it
			// back and send the line again.
			if err := s.reconnect(ctx); err != nil {
				return false, err
			}
			err = s.c.Chat(line)
		}
		if err != nil {
			s.u.problem(err)
		} else if s.u.json {
			// A script sees its own line in order with everyone's; a
			// person sees it as typed.
			s.u.event(map[string]string{"type": "sent", "text": line})
		}
		return false, nil
	}
	return s.command(ctx, line), nil
}

// who asks the hub who is there and waits for the answer, so that a
// script's next line sees it printed. A failure is shown, and ok is false.
func (s *chatSession) who(ctx context.Context) (list []protocol.ClientInfo, ok bool) {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := s.c.Who(wctx)
	if err != nil {
		s.u.event(map[string]string{"type": "error", "text": err.Error()}, "! who: "+err.Error())
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
	others := make([]protocol.ClientInfo, 0, len(list))
	var names []string
	for _, c := range list {
		if c.ID != s.c.ID() {
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
		s.inbox.answer(s.c, rest, cmd == "accept")
	case "offers":
		s.inbox.list(rest)
	default:
		s.u.event(map[string]string{"type": "error", "text": "unknown command /" + cmd},
			fmt.Sprintf("! unknown command /%s (try /help)", cmd))
	}
	return false
}

// direct sends "NICK TEXT" as a direct message to NICK, and shows it as
// sent: the hub does not echo it.
func (s *chatSession) direct(rest string) {
	to, text, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	if to == "" || text == "" {
		s.u.event(map[string]string{"type": "error", "text": "usage: /msg NICK TEXT"}, "! usage: /msg NICK TEXT")
		return
	}
	if err := s.c.Message(to, text); err != nil {
		s.u.event(map[string]string{"type": "error", "text": err.Error()}, "! msg: "+err.Error())
		return
	}
	s.u.event(map[string]string{"type": "sent", "to": to, "text": text},
		fmt.Sprintf("[private to %s] <%s> %s", to, s.c.Name(), text))
}

// rename asks the hub for a new name and shows the answer. A refusal
// leaves the name as it was.
func (s *chatSession) rename(ctx context.Context, name string) {
	if name == "" {
		s.u.event(map[string]string{"type": "error", "text": "usage: /nick NAME"}, "! usage: /nick NAME")
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	got, err := s.c.Rename(rctx, name)
	cancel()
	if err != nil {
		s.u.event(map[string]string{"type": "error", "text": err.Error()}, "! nick: "+err.Error())
		return
	}
	s.u.event(map[string]string{"type": "nick", "name": got}, "* you are now "+got)
}

// startUpload sends paths to the client called to, or to the hub if to
// is "", on a goroutine of the session's.
func (s *chatSession) startUpload(ctx context.Context, to string, paths []string) {
	m, err := scan(s.u, paths)
	if err != nil {
		s.u.problem(err)
		s.setFailed()
		return
	}
	s.uploads.Add(1)
	c := s.c // the upload stays on this connection, even if chat reconnects
	opt := s.send
	opt.To = to
	opt.Observer = s.u.observerFor(to)
	go func() {
		defer s.uploads.Done()
		// Send waits on this connection for a recipient who left, and
		// resumes when they are back (within --give-up).
		rep, err := c.Send(ctx, m, client.DeliverOptions{SendOptions: opt, Backoff: s.backoff, OnWait: s.u.wait})
		if errors.Is(err, transfer.ErrRecipientAway) {
			if rep.Accepted {
				err = fmt.Errorf("%w; /send the same paths when %s is back to resume", err, to)
			} else {
				err = fmt.Errorf("%w (to store files on the hub: /upload PATH...)", err)
			}
		}
		if err := s.u.finish(to, rep, err); err != nil {
			if !errors.Is(err, errFilesFailed) { // each failed file has its line
				s.u.problem(err)
			}
			s.setFailed()
		}
	}()
}

func (s *chatSession) setFailed() {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
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
