// Command muxfer sends files and chat between machines over one TCP
// connection per client. It is a thin shell over the hub, client and
// transfer packages: flags, terminal output and progress bars.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/protocol"
	"github.com/spf13/pflag"
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
// cobra parses its command line and completes it in a shell (cli.go); its
// flags are defined in one place, define, for both.
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
	define func(fs *pflag.FlagSet) action
}

// action runs a command with the positional arguments its flags left.
type action func(e env, fs *pflag.FlagSet, pos []string) error

// commands are muxfer's subcommands, in the order --help lists them. They
// are set in init because completion, one of them, reads the table.
var commands []command

func init() {
	commands = []command{serveCommand, sendCommand, recvCommand, chatCommand, demoCommand, keygenCommand, versionCommand, completionCommand}
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
	if completesCommand(args) {
		return completeCommand(e, args)
	}
	return execute(e, args)
}

// execute is run's work: cobra finds the command and runs it.
func execute(e env, args []string) int {
	root := newRoot(e)
	root.SetArgs(longFlags(root, args))
	cmd, err := root.ExecuteC()
	var ue usageError
	if errors.As(err, &ue) {
		return usageExit(e, cmd.CommandPath(), ue.msg)
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
	case errors.As(err, &ue):
		return usageExit(e, "muxfer", ue.msg)
	case errors.Is(err, errFilesFailed):
		return exitFailed
	case errors.Is(err, client.ErrConnectionLost), errors.Is(err, errConnLost):
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

// deadPeerNote states how long a dead connection can go unnoticed: the
// keepalive interval plus the I/O timeout (mux.Config defaults).
const deadPeerNote = "A peer that stops answering (a dead link, no FIN) is noticed within 45 s:\n" +
	"a keepalive ping every 15 s, answered within 30 s; any stream that makes no\n" +
	"progress for 30 s fails too."

var versionCommand = command{
	name:     "version",
	summary:  "print the version and protocol version",
	synopsis: "version\n\nPrints muxfer's version and the version of the protocol it speaks (a client and\na hub must speak the same one): muxfer VERSION (protocol N).",
	examples: "  muxfer version\n" +
		"  muxfer --version\n",
	define: func(*pflag.FlagSet) action { return runVersion },
}

func runVersion(e env, fs *pflag.FlagSet, pos []string) error {
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
