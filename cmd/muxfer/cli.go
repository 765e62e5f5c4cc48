package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/muxfer/muxfer/protocol"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The command line: cobra finds the command, parses its flags (GNU style,
// anywhere on the line, "--" ends them), prints help and completes in a
// shell. What muxfer keeps of its own: help written as synopsis, flags and
// examples; a bad command line as one line with exit 2 (usageError); and
// the single-dash long flags that Go's flag package read (-name alice).
//
// A command is a cobra.Command whose Use is its name, Short its line in
// muxfer --help, Long its synopsis (after "Usage: muxfer " in its own
// --help) and Example 2 to 4 invocations, one a line, each indented by
// two spaces. Its flags and their completion are declared beside it.

func init() { cobra.EnableCommandSorting = false } // --help lists them as newRoot adds them

// newRoot builds muxfer's command tree; its commands run in e.
func newRoot(e env) *cobra.Command {
	root := &cobra.Command{
		Use:               "muxfer",
		Short:             "muxfer sends files and chat between machines over one connection",
		Version:           fmt.Sprintf("%s (protocol %d)", software(), protocol.Version),
		Args:              cobra.ArbitraryArgs,
		RunE:              runRoot,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		// A typo is one or two letters off: sned, recieve.
		SuggestionsMinimumDistance: 2,
	}
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	// Defined here, without cobra's -h and -v, so that a shell offers
	// --help and --version alone; longFlags still reads -h.
	root.PersistentFlags().Bool("help", false, "show the command's usage, flags and examples")
	root.Flags().Bool("version", false, "print the version and protocol version")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{flagError(err)} })
	root.SetHelpCommand(&cobra.Command{Use: "help [command]", Hidden: true, Run: func(_ *cobra.Command, args []string) {
		if c, _, err := root.Find(args); err == nil {
			c.HelpFunc()(c, nil)
		}
	}})
	root.AddCommand(serveCommand(e), sendCommand(e), recvCommand(e), lsCommand(e), getCommand(e), heldCommand(e), chatCommand(e), demoCommand(e),
		keygenCommand(e), idCommand(e), peersCommand(e), inviteCommand(e), versionCommand(e), completionCommand())
	for _, cmd := range root.Commands() {
		completeNothingElse(cmd)
	}
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) {
		if cmd == root {
			usage(e.stdout, root)
			return
		}
		fmt.Fprintf(e.stderr, "Usage: muxfer %s\n\nFlags:\n%s\nExamples:\n%s", cmd.Long, cmd.Flags().FlagUsages(), cmd.Example)
	})
	return root
}

// subcommands are muxfer's commands, in the order --help lists them,
// without cobra's help command.
func subcommands(root *cobra.Command) []*cobra.Command {
	var cmds []*cobra.Command
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() {
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// runRoot runs muxfer without a command, or with one it does not know.
func runRoot(root *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageError{"missing command: " + commandNames(root)}
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if near := root.SuggestionsFor(args[0]); len(near) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(near, " or "))
	}
	return usageError{msg + ": give " + commandNames(root)}
}

// commandNames lists the commands for a usage error: "serve, send, ... or completion".
func commandNames(root *cobra.Command) string {
	var names []string
	for _, c := range subcommands(root) {
		names = append(names, c.Name())
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func usage(w io.Writer, root *cobra.Command) {
	fmt.Fprintf(w, "muxfer sends files and chat between machines over one connection.\n\nUsage:\n  muxfer <command> [flags] [args]\n\nCommands:\n")
	for _, c := range subcommands(root) {
		fmt.Fprintf(w, "  %-11s %s\n", c.Name(), c.Short)
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

// usageError is a bad command line: exit 2 with one line that says what
// is wrong and where the help is, never the whole help:
// "muxfer send: missing PATH (see muxfer send --help)".
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// noArgs is cobra.Command.Args for a command that takes no arguments.
func noArgs(_ *cobra.Command, pos []string) error {
	if len(pos) == 0 {
		return nil
	}
	return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
}

// flagError says what is wrong with a flag in one line, as Go's flag
// package did, with the flag written as it is typed now: --name.
func flagError(err error) string {
	var (
		missing *pflag.NotExistError
		novalue *pflag.ValueRequiredError
		invalid *pflag.InvalidValueError
	)
	switch {
	case errors.As(err, &missing):
		if missing.GetSpecifiedName() == "" {
			return "flag provided but not defined: -" + missing.GetSpecifiedShortnames()
		}
		return "flag provided but not defined: --" + missing.GetSpecifiedName()
	case errors.As(err, &novalue):
		return "flag needs an argument: --" + novalue.GetFlag().Name
	case errors.As(err, &invalid):
		return fmt.Sprintf("invalid value %q for flag --%s: %v", invalid.GetValue(), invalid.GetFlag().Name, errors.Unwrap(invalid))
	}
	return err.Error()
}

// longFlags rewrites the single-dash long flags that Go's flag package
// read, and pflag would take for a cluster of one-letter flags, into the
// double-dash form: -name alice, -reconnect=false, -version, -h. Only the
// names the command (or the top level) defines are rewritten; a flag's
// value and anything after "--" are left alone.
func longFlags(root *cobra.Command, args []string) []string {
	flags := root.Flags()
	rest := args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, _, err := root.Find(args[:1])
		if err != nil || cmd == root {
			return args
		}
		flags, rest = cmd.Flags(), args[1:]
	}
	out := append([]string(nil), args[:len(args)-len(rest)]...)
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			return append(out, rest[i:]...)
		}
		if a == "-h" {
			a = "--help"
		}
		if !strings.HasPrefix(a, "-") || len(a) < 2 {
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := flags.Lookup(name)
		if name == "help" {
			f = root.PersistentFlags().Lookup("help")
		}
		if f == nil {
			out = append(out, a)
			continue
		}
		if !strings.HasPrefix(a, "--") {
			a = "-" + a
		}
		out = append(out, a)
		if !hasValue && f.NoOptDefVal == "" && i+1 < len(rest) {
			// The value of --name: kept as it is, even if it starts with -.
			i++
			out = append(out, rest[i])
		}
	}
	return out
}
