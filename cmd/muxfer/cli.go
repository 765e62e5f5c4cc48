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
// examples; a bad command line as one line with exit 2 (usageExit); and
// the single-dash long flags that Go's flag package read (-name alice).

// helpUsage describes --help, which every command takes.
const helpUsage = "show the command's usage, flags and examples"

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
	root.PersistentFlags().Bool("help", false, helpUsage)
	root.Flags().Bool("version", false, "print the version and protocol version")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{flagError(err)} })
	root.SetHelpCommand(&cobra.Command{Use: "help [command]", Hidden: true, Run: func(_ *cobra.Command, args []string) {
		if c, _, err := root.Find(args); err == nil {
			c.HelpFunc()(c, nil)
		}
	}})
	for _, c := range commands {
		root.AddCommand(c.cobra(e))
	}
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) {
		if cmd == root {
			usage(e.stdout)
			return
		}
		commandHelp(e.stderr, cmd)
	})
	return root
}

// cobra makes the cobra command that parses c's command line and runs it in e.
func (c command) cobra(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     c.name,
		Short:   c.summary,
		Long:    c.synopsis,
		Example: c.examples,
		Args:    cobra.ArbitraryArgs,
	}
	act := c.define(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, pos []string) error { return act(e, cmd.Flags(), pos) }
	complete(cmd, c)
	return cmd
}

// runRoot runs muxfer without a command, or with one it does not know.
func runRoot(root *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageError{"missing command: " + commandNames()}
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if near := root.SuggestionsFor(args[0]); len(near) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(near, " or "))
	}
	return usageError{msg + ": give " + commandNames()}
}

// commandHelp writes cmd's help: "Usage: muxfer " and its synopsis, its
// flags, and its examples last.
func commandHelp(w io.Writer, cmd *cobra.Command) {
	fmt.Fprintf(w, "Usage: muxfer %s\n\n", cmd.Long)
	if name := cmd.Name(); name == "send" || name == "chat" || name == "serve" {
		fmt.Fprintf(w, "%s\n\n", deadPeerNote)
	}
	fmt.Fprintf(w, "Flags:\n%s\n", cmd.Flags().FlagUsages())
	fmt.Fprintf(w, "Examples:\n%s", cmd.Example)
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
		return "flag provided but not defined: " + dashes(missing.GetSpecifiedName(), missing.GetSpecifiedShortnames())
	case errors.As(err, &novalue):
		return "flag needs an argument: --" + novalue.GetFlag().Name
	case errors.As(err, &invalid):
		return fmt.Sprintf("invalid value %q for flag --%s: %v", invalid.GetValue(), invalid.GetFlag().Name, errors.Unwrap(invalid))
	}
	return err.Error()
}

// dashes writes a flag as the command line gave it: --name, or -n.
func dashes(name, short string) string {
	if name != "" {
		return "--" + name
	}
	return "-" + short
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
