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
	"syscall"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/protocol"
	"github.com/spf13/cobra"
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

// run executes one command line and returns the exit code: cobra finds
// the command and runs it.
func run(e env, args []string) int {
	root := newRoot(e)
	defer completeCommands(root, args, e.stdout)()
	root.SetArgs(longFlags(root, args))
	cmd, err := root.ExecuteC()
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "%s: %s (see %s --help)\n", cmd.CommandPath(), safe(ue.msg), cmd.CommandPath())
		return exitUsage
	}
	return exitCode(e, err)
}

// errFilesFailed reports that some files were not delivered; each was
// already printed.
var errFilesFailed = errors.New("some files were not delivered")

func exitCode(e env, err error) int {
	switch {
	case err == nil:
		return exitOK
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

func versionCommand(e env) *cobra.Command {
	return printer(e, &cobra.Command{
		Use:     "version",
		Short:   "print the version and protocol version",
		Long:    "version\n\nPrints muxfer's version and the version of the protocol it speaks (a client and\na hub must speak the same one): muxfer VERSION (protocol N).",
		Example: "  muxfer version\n  muxfer --version\n",
	}, func() string { return fmt.Sprintf("%s (protocol %d)", software(), protocol.Version) })
}

// printer makes cmd a command that takes no arguments and prints the line
// that line returns.
func printer(e env, cmd *cobra.Command, line func() string) *cobra.Command {
	cmd.Args = noArgs
	cmd.Run = func(*cobra.Command, []string) { fmt.Fprintln(e.stdout, line()) }
	return cmd
}
