package main

import (
	"cmp"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Shell completion. `muxfer completion SHELL` prints cobra's script for
// SHELL, which asks muxfer itself what to complete (muxfer __complete ...),
// so a flag added to a command is completed without anyone editing a
// list. Each command says beside its flags what their values and its
// arguments complete to (cobra.Command.ValidArgsFunction,
// RegisterFlagCompletionFunc, with anyFile, folders and choices below);
// what none names completes to nothing.

// shells writes each shell's completion script for muxfer's command tree.
var shells = map[string]func(root *cobra.Command, w io.Writer) error{
	"bash":       func(root *cobra.Command, w io.Writer) error { return root.GenBashCompletionV2(w, true) },
	"zsh":        func(root *cobra.Command, w io.Writer) error { return root.GenZshCompletion(w) },
	"fish":       func(root *cobra.Command, w io.Writer) error { return root.GenFishCompletion(w, true) },
	"powershell": func(root *cobra.Command, w io.Writer) error { return root.GenPowerShellCompletionWithDesc(w) },
}

func completionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "completion",
		Short: "print a shell completion script: bash, zsh, fish or powershell",
		Long: "completion bash|zsh|fish|powershell\n\n" +
			"Prints a script that completes muxfer's commands, their flags, and file names for\n" +
			"send's paths. Install it as the examples show: bash's script needs the\n" +
			"bash-completion package (its folder below, or source the script in ~/.bashrc);\n" +
			"zsh's line goes in ~/.zshrc, after compinit; PowerShell's in $PROFILE.",
		Example: "  muxfer completion bash > /etc/bash_completion.d/muxfer\n" +
			"  source <(muxfer completion zsh)\n" +
			"  muxfer completion fish > ~/.config/fish/completions/muxfer.fish\n" +
			"  muxfer completion powershell | Out-String | Invoke-Expression\n",
		ValidArgsFunction: func(_ *cobra.Command, pos []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(pos) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return slices.Sorted(maps.Keys(shells)), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, pos []string) error {
			if len(pos) != 1 || shells[pos[0]] == nil {
				return usageError{"give one shell: bash, zsh, fish or powershell"}
			}
			return shells[pos[0]](cmd.Root(), cmd.OutOrStdout())
		},
	}
}

// completeNothingElse makes the flag values and arguments of cmd that it
// names no completion for complete to nothing, rather than to names on
// disk: a nick or an address is not a file.
func completeNothingElse(cmd *cobra.Command) {
	if cmd.ValidArgsFunction == nil {
		cmd.ValidArgsFunction = cobra.NoFileCompletions
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if _, ok := cmd.GetFlagCompletionFunc(f.Name); !ok && f.NoOptDefVal == "" {
			_ = cmd.RegisterFlagCompletionFunc(f.Name, cobra.NoFileCompletions)
		}
	})
}

// anyFile completes names on disk with the shell's own file completion
// (bash-completion's _filedir): a filter of no extensions lets every name
// through.
func anyFile(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterFileExt
}

// folders completes the folders whose path starts with typed, each with a
// trailing slash, so that the next tab goes on inside it. They are listed
// here, as fish's script cannot filter folders (ShellCompDirectiveFilterDirs).
func folders(_ *cobra.Command, _ []string, typed string) ([]string, cobra.ShellCompDirective) {
	dir, prefix := filepath.Split(typed)
	entries, _ := os.ReadDir(cmp.Or(dir, "."))
	var names []string
	for _, ent := range entries {
		if ent.IsDir() && strings.HasPrefix(ent.Name(), prefix) {
			names = append(names, dir+ent.Name()+"/")
		}
	}
	return names, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}

// completeCommands answers a shell asking what follows "muxfer" (muxfer
// __complete WORD, as the scripts ask at muxfer <TAB>) as cobra does, but
// without cobra's help command, which cobra offers among the commands
// whether it is hidden or not: a user is offered the commands that do
// something, and `muxfer help CMD` still works when typed. It returns what
// writes cobra's answer, a line a candidate ("send" and a tab and its
// summary) then the directive (":4"), to w once root has run.
func completeCommands(root *cobra.Command, args []string, w io.Writer) (done func()) {
	if len(args) != 2 || args[0] != cobra.ShellCompRequestCmd && args[0] != cobra.ShellCompNoDescRequestCmd {
		return func() {}
	}
	var answer strings.Builder
	root.SetOut(&answer)
	return func() {
		for line := range strings.Lines(answer.String()) {
			if name, _, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t"); name != "help" {
				io.WriteString(w, line)
			}
		}
	}
}
