package main

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/protocol"
	"github.com/spf13/cobra"
)

func TestEveryCommandHelpEndsWithExamples(t *testing.T) {
	for _, c := range subcommands(newRoot(env{})) {
		t.Run(c.Name(), func(t *testing.T) {
			code, _, errs := runCmd(t, "", c.Name(), "--help")
			if code != exitOK {
				t.Fatalf("exit %d, want %d", code, exitOK)
			}
			_, examples, ok := strings.Cut(errs, "\nExamples:\n")
			if !ok {
				t.Fatalf("no Examples: section in\n%s", errs)
			}
			lines := strings.Split(strings.TrimSuffix(examples, "\n"), "\n")
			if len(lines) < 2 || len(lines) > 4 {
				t.Errorf("%d examples, want 2 to 4:\n%s", len(lines), examples)
			}
			for _, line := range lines {
				if !strings.HasPrefix(line, "  ") || !strings.Contains(line, "muxfer ") {
					t.Errorf("example %q is not an indented muxfer command line", line)
				}
			}
		})
	}
}

// TestHelpExamplesParse runs every example's muxfer command line through
// the flags of the command it names, so that an example cannot use a flag
// that is gone or a value that no longer parses.
func TestHelpExamplesParse(t *testing.T) {
	for _, c := range subcommands(newRoot(env{})) {
		for line := range strings.Lines(c.Example) {
			invocations := exampleInvocations(line)
			if len(invocations) == 0 {
				t.Errorf("%s example %q runs no muxfer command", c.Name(), line)
			}
			for _, args := range invocations {
				if _, _, err := parseLine(args); err != nil {
					t.Errorf("%s example %q: %q does not parse: %v", c.Name(), line, args, err)
				}
			}
		}
	}
}

// parseLine parses a muxfer command line as run does, but runs no
// command: it returns the command the line names, with its flags parsed,
// and its positional arguments.
func parseLine(args []string) (cmd *cobra.Command, pos []string, err error) {
	root := newRoot(env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})
	for _, c := range root.Commands() {
		c.RunE = func(c *cobra.Command, args []string) error {
			cmd, pos = c, args
			return nil
		}
	}
	root.SetArgs(longFlags(root, args))
	if _, err := root.ExecuteC(); err != nil {
		return nil, nil, err
	}
	if cmd == nil {
		cmd = root // --version, --help
	}
	return cmd, pos, nil
}

// exampleInvocations finds the muxfer command lines in an example, which
// may pipe, chain or redirect them: each is the words after "muxfer" up
// to the end of its part of the line.
func exampleInvocations(line string) [][]string {
	line, _, _ = strings.Cut(line, "#")
	var found [][]string
	for _, part := range strings.FieldsFunc(line, func(r rune) bool { return strings.ContainsRune("|&;>", r) }) {
		words := strings.Fields(part)
		for i, w := range words {
			w = strings.Trim(w, "<()")
			if (w == "muxfer" || strings.HasSuffix(w, "/muxfer")) && i+1 < len(words) {
				args := words[i+1:]
				for j := range args {
					args[j] = strings.Trim(args[j], "()")
				}
				found = append(found, args)
				break
			}
		}
	}
	return found
}

func TestVersionNamesTheProtocol(t *testing.T) {
	want := fmt.Sprintf("muxfer %s (protocol %d)\n", version, protocol.Version)
	for _, arg := range []string{"version", "--version", "-version"} {
		code, out, errs := runCmd(t, "", arg)
		if code != exitOK || out != want || errs != "" {
			t.Errorf("muxfer %s: exit %d, stdout %q, stderr %q; want exit 0 and %q", arg, code, out, errs, want)
		}
	}
}

// TestHelpWritesSizesAsEverythingElse: a size flag's default is written as
// muxfer writes sizes everywhere (binary units, IEC names), and the flag
// still reads the short form the README gives.
func TestHelpWritesSizesAsEverythingElse(t *testing.T) {
	_, _, errs := runCmd(t, "", "serve", "--help")
	if !strings.Contains(errs, "(default 64.0 MiB)") || strings.Contains(errs, " MB") {
		t.Errorf("serve --help does not give --reserve's default as 64.0 MiB:\n%s", errs)
	}
	var b byteSize
	if err := b.Set("64M"); err != nil || b.String() != "64.0 MiB" || size(int64(b)) != b.String() {
		t.Errorf("--reserve 64M reads as %d (%q), %v", b, b.String(), err)
	}
}
