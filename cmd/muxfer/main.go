// Command muxfer sends files and chat between machines over one TCP
// connection per client. It is a thin shell over the hub, client and
// transfer packages: flags, terminal output and progress bars.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// version is the release; -ldflags "-X main.version=…" may override it.
var version = "0.1.0"

func software() string { return "muxfer " + version }

// Exit codes, as documented in README.md.
const (
	exitOK       = 0 // everything delivered and verified
	exitFailed   = 1 // an error, or some files failed
	exitUsage    = 2 // bad command line
	exitConnLost = 3 // the connection to the hub was lost

	exitInterrupted = 130 // SIGINT or SIGTERM, as shells report it
)

// env is what a command may touch of the process, so tests can run
// commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	ctx    context.Context // cancelled on SIGINT/SIGTERM
	getenv func(string) string
}

// command is one subcommand: its help, the flags it takes and what it does.
// Its flag set is built in one place, define, both to run the command and
// to write shell completion (completion.go), so a shell offers exactly the
// flags the command parses.
type command struct {
	name    string
	summary string // one line, for muxfer --help
	// synopsis follows "Usage: muxfer " in the command's --help. Its first
	// line names the positional arguments before any "[": completion reads
	// them there (FILE, PATH or DIR: names on disk; a|b|c: one of these
	// words; PATH...: as many as wanted).
	synopsis string
	examples string // 2 to 4 invocations, one a line, each indented by two spaces
	// define puts the command's flags on fs and returns what runs the
	// command once fs has parsed the command line.
	define func(fs *flag.FlagSet) action
}

// action runs a command with the positional arguments its flags left.
type action func(e env, fs *flag.FlagSet, pos []string) error

// commands are muxfer's subcommands, in the order --help lists them. They
// are set in init because completion, one of them, reads the table.
var commands []command

func init() {
	commands = []command{serveCommand, sendCommand, recvCommand, chatCommand, demoCommand, keygenCommand, versionCommand, completionCommand}
}

// lookup finds the command a command line names; --version is the version command.
func lookup(name string) (command, bool) {
	if name == "--version" || name == "-version" {
		name = "version"
	}
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// flags builds the command's flag set, whose usage goes to w, and returns
// it with what runs the command once it has parsed the command line.
func (c command) flags(w io.Writer) (*flag.FlagSet, action) {
	fs := newFlags(w, c)
	return fs, c.define(fs)
}

// run parses args with the command's flags and runs it.
func (c command) run(e env, args []string) error {
	fs, act := c.flags(e.stderr)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	return act(e, fs, pos)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	tuneGC(os.Getenv, os.Args[1:])
	stopProfile := startProfile(os.Getenv("MUXFER_CPUPROFILE"))
	code := run(env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, ctx: ctx, getenv: os.Getenv}, os.Args[1:])
	stopProfile()
	stop()
	os.Exit(code)
}

// startProfile writes a CPU profile of the whole run to path, if set, for
// tuning (go tool pprof muxfer PATH), and returns what stops it.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		printError(os.Stderr, fmt.Sprintf("MUXFER_CPUPROFILE: %v", err))
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// run executes one command line and returns the exit code.
func run(e env, args []string) int {
	if len(args) == 0 {
		return usageExit(e, "muxfer", "missing command: "+commandNames())
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		usage(e.stdout)
		return exitOK
	}
	c, ok := lookup(name)
	if !ok {
		return usageExit(e, "muxfer", fmt.Sprintf("unknown command %q: give %s", name, commandNames()))
	}
	err := c.run(e, args[1:])
	var ue usageError
	if errors.As(err, &ue) {
		return usageExit(e, "muxfer "+c.name, ue.msg)
	}
	return exitCode(e, err)
}

// usageExit prints a usage error as one line that says what is wrong and
// where the help is, never the whole help, and returns exitUsage:
// "muxfer send: missing PATH (see muxfer send --help)".
func usageExit(e env, cmd, msg string) int {
	fmt.Fprintf(e.stderr, "%s: %s (see %s --help)\n", cmd, safe(msg), cmd)
	return exitUsage
}

// commandNames lists the commands for a usage error: "serve, send, ... or completion".
func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "muxfer sends files and chat between machines over one connection.\n\nUsage:\n  muxfer <command> [flags] [args]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
Examples:
  muxfer demo                                  # a hub and two clients on loopback
  muxfer serve --dir /srv/drop                 # a hub on :7878
  muxfer send hub.example:7878 photos/ a.txt   # upload; exits 0 once every hash is verified
  muxfer chat hub.example:7878 --name alice    # chat; /send NICK PATH... to a person, /upload PATH... to the hub

ADDR is HOST[:PORT], the port 7878 unless given: hub.example, 10.0.0.5:9000, [::1].
Exit codes: 0 all delivered, 1 error or some files failed, 2 usage, 3 connection lost,
130 interrupted.
Run 'muxfer <command> --help' for a command's flags and examples.
`)
}

// usageError is a bad command line: exit 2 with one line (see usageExit).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// errFilesFailed reports that some files were not delivered; each was
// already printed.
var errFilesFailed = errors.New("some files were not delivered")

func exitCode(e env, err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		return usageExit(e, "muxfer", ue.msg)
	case errors.Is(err, errFilesFailed):
		return exitFailed
	case errors.Is(err, transfer.ErrConnectionLost), errors.Is(err, errConnLost):
		printError(e.stderr, err.Error())
		return exitConnLost
	case errors.Is(err, context.Canceled) && e.ctx.Err() != nil:
		printError(e.stderr, "interrupted")
		return exitInterrupted
	}
	printError(e.stderr, err.Error())
	return exitFailed
}

// printError prints msg on w as muxfer's line of complaint. msg may quote a
// peer (a send's error ends with the recipient's reason for refusing),
// so it is made safe as the ui's lines are: it stays one line, and
// nothing in it reaches the terminal as a control.
func printError(w io.Writer, msg string) {
	fmt.Fprintf(w, "muxfer: %s\n", safe(msg))
}

// errConnLost reports that the hub went away during a chat session.
var errConnLost = errors.New("connection to the hub lost")

// newFlags returns an empty flag set for c whose usage, written to w,
// prints the command's synopsis, its flags and its examples.
func newFlags(w io.Writer, c command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: muxfer %s\n\n", c.synopsis)
		if c.name == "send" || c.name == "chat" || c.name == "serve" {
			fmt.Fprintf(w, "%s\n\n", deadPeerNote)
		}
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(w, "Flags:\n")
			fs.PrintDefaults()
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Examples:\n%s", c.examples)
	}
	return fs
}

// deadPeerNote states how long a dead connection can go unnoticed: the
// keepalive interval plus the I/O timeout (mux.Config defaults).
const deadPeerNote = "A peer that stops answering (a dead link, no FIN) is noticed within 45 s:\n" +
	"a keepalive ping every 15 s, answered within 30 s; any stream that makes no\n" +
	"progress for 30 s fails too."

// parse parses flags that may come before, between or after the
// positional arguments ("send HOST a b --parallel 8"); "--" ends flags.
// It prints the command's help for --help only: a bad flag is a usage
// error of one line, which the flag package would follow with the help.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	help, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() { fs.Usage = help; fs.SetOutput(out) }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				help()
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

var versionCommand = command{
	name:     "version",
	summary:  "print the version and protocol version",
	synopsis: "version\n\nPrints muxfer's version and the version of the protocol it speaks (a client and\na hub must speak the same one): muxfer VERSION (protocol N).",
	examples: "  muxfer version\n" +
		"  muxfer --version\n",
	define: func(*flag.FlagSet) action { return runVersion },
}

func runVersion(e env, fs *flag.FlagSet, pos []string) error {
	if err := noArgs(pos); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s (protocol %d)\n", software(), protocol.Version)
	return nil
}

// noArgs refuses positional arguments for a command that takes none.
func noArgs(pos []string) error {
	if len(pos) == 0 {
		return nil
	}
	return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
}
