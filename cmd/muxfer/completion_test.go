package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandFlags lists the flags of c as the command line parses them,
// help included.
func commandFlags(c *cobra.Command) []string {
	fs := c.Flags()
	names := []string{"help"}
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	return names
}

// completionScript returns the script `muxfer completion shell` prints.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	code, out, errs := runCmd(t, "", "completion", shell)
	if code != exitOK {
		t.Fatalf("muxfer completion %s: exit %d, stderr:\n%s", shell, code, errs)
	}
	return out
}

// writeScript writes the script for shell into a temporary file.
func writeScript(t *testing.T, shell string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "muxfer."+shell)
	if err := os.WriteFile(path, []byte(completionScript(t, shell)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCompletionOffersEveryCommandAndFlag asks muxfer what a shell's
// script asks it (muxfer __complete ARGS...) for every command's flags.
func TestCompletionOffersEveryCommandAndFlag(t *testing.T) {
	code, out, errs := runCmd(t, "", "__complete", "")
	if code != exitOK {
		t.Fatalf("__complete: exit %d, stderr:\n%s", code, errs)
	}
	for _, c := range subcommands(newRoot(env{})) {
		if !strings.Contains(out, "\n"+c.Name()+"\t") && !strings.HasPrefix(out, c.Name()+"\t") {
			t.Errorf("muxfer <TAB> does not offer %s:\n%s", c.Name(), out)
		}
		code, out, errs := runCmd(t, "", "__complete", c.Name(), "--")
		if code != exitOK {
			t.Fatalf("__complete %s --: exit %d, stderr:\n%s", c.Name(), code, errs)
		}
		for _, name := range commandFlags(c) {
			if !strings.Contains(out, "--"+name+"\t") {
				t.Errorf("muxfer %s --<TAB> does not offer --%s:\n%s", c.Name(), name, out)
			}
		}
	}
}

// TestCompletionOffersTheCommandsAlone: muxfer <TAB> offers muxfer's
// commands and nothing else, with descriptions or without; not cobra's
// help command, which `muxfer help CMD` still runs when it is typed.
func TestCompletionOffersTheCommandsAlone(t *testing.T) {
	var want []string
	for _, c := range subcommands(newRoot(env{})) {
		want = append(want, c.Name())
	}
	slices.Sort(want)
	for _, request := range []string{"__complete", "__completeNoDesc"} {
		code, out, errs := runCmd(t, "", request, "")
		if code != exitOK {
			t.Fatalf("%s: exit %d, stderr:\n%s", request, code, errs)
		}
		var offered []string
		for line := range strings.Lines(out) {
			if name, _, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t"); !strings.HasPrefix(name, ":") {
				offered = append(offered, name)
			}
		}
		if slices.Sort(offered); !slices.Equal(offered, want) {
			t.Errorf("muxfer <TAB> (%s) offers %q, want %q", request, offered, want)
		}
		if _, out, _ := runCmd(t, "", request, "help"); out != ":4\n" {
			t.Errorf("muxfer help<TAB> (%s) answers %q, want nothing offered (:4)", request, out)
		}
	}
	if code, _, errs := runCmd(t, "", "help", "send"); code != exitOK || !strings.HasPrefix(errs, "Usage: muxfer send ADDR") {
		t.Errorf("muxfer help send: exit %d, stderr %q; want send's help", code, errs)
	}
}

func TestCompletionForPowerShell(t *testing.T) {
	if script := completionScript(t, "powershell"); !strings.Contains(script, "Register-ArgumentCompleter -CommandName 'muxfer'") {
		t.Errorf("muxfer completion powershell registers no completer for muxfer:\n%s", script)
	}
}

func TestCompletionNeedsAKnownShell(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		code, out, errs := runCmd(t, "", args...)
		if code != exitUsage || out != "" || !strings.Contains(errs, "give one shell: bash, zsh, fish or powershell") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and the usage", args, code, out, errs, exitUsage)
		}
	}
}

// completionDir makes a folder with a few names to complete, as the
// working directory of a shell.
func completionDir(t *testing.T) string {
	dir := t.TempDir()
	for _, name := range []string{"notes.txt", "my file.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "photos"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBashCompletionOffersCommandsFlagsAndPaths(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed: cannot run the bash completion")
	}
	completion := "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(completion); err != nil {
		t.Skip("bash-completion is not installed: cannot run the bash completion")
	}
	script := writeScript(t, "bash")
	path := binaryPath(t)
	dir := completionDir(t)
	var names []string
	for _, c := range subcommands(newRoot(env{})) {
		names = append(names, c.Name())
	}
	files := []string{"my file.txt", "notes.txt", "photos"}
	tests := []struct {
		name  string
		words []string // COMP_WORDS; the cursor is on the last
		want  []string
	}{
		{"command by prefix", []string{"muxfer", "se"}, []string{"send", "serve"}},
		{"every command", []string{"muxfer", ""}, names},
		{"top-level flags", []string{"muxfer", "-"}, []string{"--help", "--version"}},
		{"flags by prefix", []string{"muxfer", "send", "--re"}, []string{"--reconnect", "--reconnect-max"}},
		{"flags after the arguments", []string{"muxfer", "send", "hub:7878", "a.txt", "--js"}, []string{"--json"}},
		{"no paths for the address", []string{"muxfer", "send", ""}, nil},
		{"paths after the address", []string{"muxfer", "send", "hub:7878", ""}, files},
		{"path by prefix", []string{"muxfer", "send", "hub:7878", "photos", "no"}, []string{"notes.txt"}},
		{"a flag's value is not an argument", []string{"muxfer", "send", "--parallel", "4", "hub:7878", ""}, files},
		{"a bool flag takes no value", []string{"muxfer", "send", "--reconnect", "hub:7878", ""}, files},
		{"after -- every word is an argument", []string{"muxfer", "send", "hub:7878", "--", "--re"}, nil},
		{"choices of a flag", []string{"muxfer", "send", "--progress", ""}, []string{"always", "auto", "never"}},
		{"choices after =", []string{"muxfer", "chat", "--progress", "=", "n"}, []string{"never"}},
		{"a file for --key-file", []string{"muxfer", "chat", "--key-file", "n"}, []string{"notes.txt"}},
		{"folders for --dir", []string{"muxfer", "serve", "--dir", ""}, []string{"photos/"}},
		{"nothing for chat's address", []string{"muxfer", "chat", ""}, nil},
		{"nothing after chat's address", []string{"muxfer", "chat", "hub:7878", ""}, nil},
		{"shells", []string{"muxfer", "completion", ""}, []string{"bash", "fish", "powershell", "zsh"}},
		{"an unknown command", []string{"muxfer", "fly", ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bash, "--norc", "--noprofile", "-c", `source "$1" && source "$2" && shift 2 &&
COMP_WORDS=("$@") && COMP_CWORD=$(($# - 1)) && COMP_LINE=$LINE && COMP_POINT=${#LINE} &&
__start_muxfer && for c in "${COMPREPLY[@]}"; do printf '%s\n' "$c"; done`,
				"bash", completion, script)
			cmd.Args = append(cmd.Args, tt.words...)
			cmd.Env = append(os.Environ(), "PATH="+path, "LINE="+commandLine(tt.words))
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("bash: %v\n%s", err, stderr.String())
			}
			got := candidates(out)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("%q: candidates %q, want %q", tt.words, got, want)
			}
		})
	}
}

func TestFishCompletionOffersCommandsFlagsAndPaths(t *testing.T) {
	fish, err := exec.LookPath("fish")
	if err != nil {
		t.Skip("fish is not installed: cannot run the fish completion")
	}
	script := writeScript(t, "fish")
	path := binaryPath(t)
	tests := []struct {
		line string
		want []string
	}{
		{"muxfer se", []string{"send", "serve"}},
		{"muxfer send --re", []string{"--reconnect", "--reconnect-max"}},
		{"muxfer send hub:7878 no", []string{"notes.txt"}},
		{"muxfer send --progress ", []string{"always", "auto", "never"}},
		{"muxfer serve --dir ", []string{"photos/"}},
		{"muxfer completion ", []string{"bash", "fish", "powershell", "zsh"}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			cmd := exec.Command(fish, "--no-config", "-c", `source $argv[1]; and complete -C $argv[2]`, script, tt.line)
			cmd.Env = append(os.Environ(), "PATH="+path)
			cmd.Dir = completionDir(t)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("fish: %v\n%s", err, stderr.String())
			}
			got := candidates(out)
			if !slices.Equal(got, tt.want) {
				t.Errorf("complete -C %q: %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

// binaryPath builds muxfer and returns a PATH on which a completion
// script finds it, to ask what to complete.
func binaryPath(t *testing.T) string {
	return filepath.Dir(buildBinary(t)) + string(os.PathListSeparator) + os.Getenv("PATH")
}

// commandLine is the line bash split into words: the words between
// spaces, but a "=" that bash split off joined to its neighbours.
func commandLine(words []string) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 && w != "=" && words[i-1] != "=" {
			b.WriteString(" ")
		}
		b.WriteString(w)
	}
	return b.String()
}

// candidates are the lines a shell printed, sorted, without the
// description fish puts after a tab.
func candidates(out []byte) []string {
	var c []string
	for line := range strings.Lines(string(out)) {
		candidate, _, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		c = append(c, candidate)
	}
	slices.Sort(c)
	return c
}

func TestCompletionScriptsParse(t *testing.T) {
	tests := []struct {
		shell string
		check []string // the syntax check, given the script's path
	}{
		{"bash", []string{"bash", "-n"}},
		{"zsh", []string{"zsh", "-n"}},
		{"fish", []string{"fish", "--no-execute"}},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			if _, err := exec.LookPath(tt.check[0]); err != nil {
				t.Skipf("%s is not installed: cannot check the syntax of its script", tt.shell)
			}
			out, err := exec.Command(tt.check[0], append(tt.check[1:], writeScript(t, tt.shell))...).CombinedOutput()
			if err != nil {
				t.Errorf("%s: %v\n%s", strings.Join(tt.check, " "), err, out)
			}
		})
	}
}

// shellQuote quotes s for sh, bash and zsh, and for chat's command line,
// which reads quotes as they do.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
