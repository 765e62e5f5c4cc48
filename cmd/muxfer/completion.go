package main

import (
	"cmp"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Shell completion. `muxfer completion SHELL` prints cobra's script for
// SHELL, which asks muxfer itself what to complete (muxfer __complete ...),
// so a flag added to a command is completed without anyone editing a
// list. What a flag's value completes to comes from the placeholder its
// usage names in backquotes (pflag.UnquoteUsage): FILE and PATH complete
// names on disk, DIR folders, a|b|c one of those words, anything else
// nothing. Positional arguments are read the same way from the first line
// of the command's synopsis.

var completionCommand = command{
	name:    "completion",
	summary: "print a shell completion script: bash, zsh, fish or powershell",
	synopsis: "completion bash|zsh|fish|powershell\n\n" +
		"Prints a script that completes muxfer's commands, their flags, and file names for\n" +
		"send's paths. Install it as the examples show: bash's script needs the\n" +
		"bash-completion package (its folder below, or source the script in ~/.bashrc);\n" +
		"zsh's line goes in ~/.zshrc, after compinit; PowerShell's in $PROFILE.",
	examples: "  muxfer completion bash > /etc/bash_completion.d/muxfer\n" +
		"  source <(muxfer completion zsh)\n" +
		"  muxfer completion fish > ~/.config/fish/completions/muxfer.fish\n" +
		"  muxfer completion powershell | Out-String | Invoke-Expression\n",
	define: func(*pflag.FlagSet) action { return runCompletion },
}

// shells writes each shell's completion script for muxfer's command tree.
var shells = map[string]func(root *cobra.Command, w io.Writer) error{
	"bash":       func(root *cobra.Command, w io.Writer) error { return root.GenBashCompletionV2(w, true) },
	"zsh":        func(root *cobra.Command, w io.Writer) error { return root.GenZshCompletion(w) },
	"fish":       func(root *cobra.Command, w io.Writer) error { return root.GenFishCompletion(w, true) },
	"powershell": func(root *cobra.Command, w io.Writer) error { return root.GenPowerShellCompletionWithDesc(w) },
}

func runCompletion(e env, fs *pflag.FlagSet, pos []string) error {
	if len(pos) != 1 || shells[pos[0]] == nil {
		return usageError{"give one shell: bash, zsh, fish or powershell"}
	}
	return shells[pos[0]](newRoot(e), e.stdout)
}

// completesCommand reports whether args are a shell asking what follows
// "muxfer": muxfer __complete WORD, as the scripts ask at muxfer <TAB>.
func completesCommand(args []string) bool {
	return len(args) == 2 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd)
}

// completeCommand answers a shell asking what follows "muxfer" as cobra
// does, but without cobra's help command, which cobra offers among the
// commands whether it is hidden or not: a user is offered the commands
// that do something, and `muxfer help CMD` still works when typed. cobra
// writes a line a candidate ("send" and a tab and its summary), then the
// directive (":4").
func completeCommand(e env, args []string) int {
	var answer strings.Builder
	stdout := e.stdout
	e.stdout = &answer
	code := execute(e, args)
	for line := range strings.Lines(answer.String()) {
		if name, _, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t"); name != "help" {
			io.WriteString(stdout, line)
		}
	}
	return code
}

// complete tells cobra what cmd's flag values and positional arguments
// complete to, as c's flag usages and synopsis name them.
func complete(cmd *cobra.Command, c command) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.NoOptDefVal != "" {
			return // a bool flag takes no value
		}
		placeholder, _ := pflag.UnquoteUsage(f)
		v := placeholderValue(placeholder)
		_ = cmd.RegisterFlagCompletionFunc(f.Name, func(_ *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
			return v.completion(typed)
		})
	})
	args := positionals(c.synopsis)
	cmd.ValidArgsFunction = func(_ *cobra.Command, pos []string, typed string) ([]string, cobra.ShellCompDirective) {
		i := len(pos)
		if len(args) > 0 && args[len(args)-1].Repeats && i >= len(args) {
			i = len(args) - 1
		}
		if i >= len(args) {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return args[i].Value.completion(typed)
	}
}

// completion is what cobra offers for v, given what is typed: names on
// disk, folders, or words.
func (v valueSpec) completion(typed string) ([]string, cobra.ShellCompDirective) {
	switch {
	case v.Files:
		// The shell's own file completion (bash-completion's _filedir):
		// a filter of no extensions lets every name through.
		return nil, cobra.ShellCompDirectiveFilterFileExt
	case v.Dirs:
		// Listed here, as fish's script cannot filter folders.
		return folders(typed), cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	}
	return v.Choices, cobra.ShellCompDirectiveNoFileComp
}

// folders lists the folders whose path starts with typed, each with a
// trailing slash, so that the next tab goes on inside it.
func folders(typed string) []string {
	dir, prefix := filepath.Split(typed)
	entries, err := os.ReadDir(cmp.Or(dir, "."))
	if err != nil {
		return nil
	}
	var names []string
	for _, ent := range entries {
		if ent.IsDir() && strings.HasPrefix(ent.Name(), prefix) {
			names = append(names, dir+ent.Name()+"/")
		}
	}
	return names
}

// argSpec is one positional argument of a command.
type argSpec struct {
	Repeats bool // PATH...: this and every argument after it
	Value   valueSpec
}

// valueSpec says what a flag's value or a positional argument completes to.
type valueSpec struct {
	Placeholder string   // FILE, DIR, N...
	Files       bool     // any name on disk
	Dirs        bool     // folders only
	Choices     []string // one of these words
}

// positionals reads the positional arguments from the first line of a
// synopsis: the words after the command's name, up to the first "[" or
// flag (recv ADDR --dir DIR).
func positionals(synopsis string) []argSpec {
	line, _, _ := strings.Cut(synopsis, "\n")
	words := strings.Fields(line)
	var args []argSpec
	for _, w := range words[1:] {
		if strings.HasPrefix(w, "[") || strings.HasPrefix(w, "-") {
			break
		}
		p, repeats := strings.CutSuffix(w, "...")
		args = append(args, argSpec{Repeats: repeats, Value: placeholderValue(p)})
	}
	return args
}

// placeholderValue says what a placeholder in a synopsis or a flag's
// usage completes to.
func placeholderValue(p string) valueSpec {
	v := valueSpec{Placeholder: p}
	switch {
	case p == "FILE" || p == "PATH":
		v.Files = true
	case p == "DIR":
		v.Dirs = true
	case strings.Contains(p, "|"):
		v.Choices = strings.Split(p, "|")
	}
	return v
}
