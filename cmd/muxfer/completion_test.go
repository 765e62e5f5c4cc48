package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// commandFlags lists the flags of c as its own flag set defines them, plus
// help, which the flag package gives every command.
func commandFlags(c command) []string {
	fs, _ := c.flags(io.Discard)
	names := []string{"help"}
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
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

func TestCompletionScriptsNameEveryCommandAndFlag(t *testing.T) {
	tests := []struct {
		shell string
		// section is the part of the script that completes cmd.
		section func(script, cmd string) string
		// flag is how the section names a flag.
		flag func(name string) []string
	}{
		{"bash",
			func(script, cmd string) string { return lineWith(script, "    "+cmd+") flags=") },
			func(name string) []string { return []string{"--" + name + " ", "--" + name + "'"} }},
		{"zsh",
			func(script, cmd string) string {
				_, after, _ := strings.Cut(script, "    ("+cmd+")\n")
				section, _, _ := strings.Cut(after, "\n        ;;")
				return section
			},
			func(name string) []string { return []string{"'--" + name + "[", "'--" + name + "=["} }},
		{"fish",
			func(script, cmd string) string { return linesWith(script, "'__muxfer_command "+cmd+"'") },
			func(name string) []string { return []string{" -l " + name + " "} }},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			script := completionScript(t, tt.shell)
			for _, c := range commands {
				section := tt.section(script, c.name)
				if section == "" {
					t.Errorf("%s script does not complete %s", tt.shell, c.name)
					continue
				}
				for _, name := range commandFlags(c) {
					if !containsAny(section, tt.flag(name)) {
						t.Errorf("%s script does not offer --%s for %s; its part for %s:\n%s", tt.shell, name, c.name, c.name, section)
					}
				}
			}
		})
	}
}

func lineWith(text, prefix string) string {
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}

func linesWith(text, substr string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if strings.Contains(line, substr) {
			b.WriteString(line)
		}
	}
	return b.String()
}

func containsAny(s string, substrs []string) bool {
	return slices.ContainsFunc(substrs, func(sub string) bool { return strings.Contains(s, sub) })
}

func TestCompletionNeedsAKnownShell(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		code, out, errs := runCmd(t, "", args...)
		if code != exitUsage || out != "" || !strings.Contains(errs, "give one shell: bash, zsh or fish") {
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
	script := writeScript(t, "bash")
	dir := completionDir(t)
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
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
		{"folders for --dir", []string{"muxfer", "serve", "--dir", ""}, []string{"photos"}},
		{"nothing for chat's address", []string{"muxfer", "chat", ""}, nil},
		{"nothing after chat's address", []string{"muxfer", "chat", "hub:7878", ""}, nil},
		{"shells", []string{"muxfer", "completion", ""}, []string{"bash", "fish", "zsh"}},
		{"an unknown command", []string{"muxfer", "fly", ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bash, "--norc", "--noprofile", "-c", `source "$1" && shift &&
COMP_WORDS=("$@") && COMP_CWORD=$(($# - 1)) && _muxfer && for c in "${COMPREPLY[@]}"; do printf '%s\n' "$c"; done`,
				"bash", script)
			cmd.Args = append(cmd.Args, tt.words...)
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
	tests := []struct {
		line string
		want []string
	}{
		{"muxfer se", []string{"send", "serve"}},
		{"muxfer send --re", []string{"--reconnect", "--reconnect-max"}},
		{"muxfer send hub:7878 no", []string{"notes.txt"}},
		{"muxfer send --progress ", []string{"always", "auto", "never"}},
		{"muxfer serve --dir ", []string{"photos/"}},
		{"muxfer completion ", []string{"bash", "fish", "zsh"}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			cmd := exec.Command(fish, "--no-config", "-c", `source $argv[1]; and complete -C $argv[2]`, script, tt.line)
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
