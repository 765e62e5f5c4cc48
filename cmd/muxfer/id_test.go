package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
)

// TestIDPrintsOneFingerprintAndKeepsIt: muxfer id makes the identity on
// first use (saying so on stderr), prints its fingerprint alone on
// stdout, prints the same one after, and refuses an identity file that
// others can read.
func TestIDPrintsOneFingerprintAndKeepsIt(t *testing.T) {
	config := t.TempDir()
	getenv := func(n string) string {
		if n == "XDG_CONFIG_HOME" {
			return config
		}
		return ""
	}
	code, out, errs := runCmdEnv(t, getenv, "", "id")
	if code != exitOK || !regexp.MustCompile(`^[a-z2-7]{4}(-[a-z2-7]{4}){5}\n$`).MatchString(out) {
		t.Fatalf("first id: exit %d, stdout %q, stderr %q; want one fingerprint", code, out, errs)
	}
	path := filepath.Join(config, "muxfer", "identity")
	if !strings.Contains(errs, "made a new identity in "+path) {
		t.Errorf("stderr %q does not say the identity was made", errs)
	}
	code, again, errs := runCmdEnv(t, getenv, "", "id")
	if code != exitOK || again != out || errs != "" {
		t.Errorf("second id: exit %d, %q, stderr %q; want %q and nothing on stderr", code, again, errs, out)
	}
	os.Chmod(path, 0o640)
	code, out, errs = runCmdEnv(t, getenv, "", "id")
	if code != exitFailed || out != "" || !strings.Contains(errs, "chmod 600 "+path) {
		t.Errorf("id with a readable identity: exit %d, stdout %q, stderr %q; want a refusal", code, out, errs)
	}
	if code, _, errs := runCmdEnv(t, getenv, "", "id", "extra"); code != exitUsage {
		t.Errorf("id extra: exit %d, %q; want a usage error", code, errs)
	}
}

// TestNamesBelongToTheirIdentity runs send and chat as three people, each
// with an identity of their own (a config directory each): the first to
// use a name keeps it, the others are refused it with a clear line, and
// /who shows each client's fingerprint as muxfer id prints it.
func TestNamesBelongToTheirIdentity(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	file := "../../testdata/hello.txt"
	person := func() func(string) string {
		config := t.TempDir()
		return func(n string) string {
			switch n {
			case "XDG_CONFIG_HOME":
				return config
			case keyEnv:
				return h.Key.Text()
			}
			return ""
		}
	}
	alice, mallory, bob := person(), person(), person()
	send := func(who func(string) string, name string) (int, string) {
		code, _, errs := runCmdEnv(t, who, "", "send", h.Addr, "--name", name, "--progress", "never", file)
		return code, errs
	}
	if code, errs := send(alice, "alice"); code != exitOK {
		t.Fatalf("alice's first send: exit %d: %s", code, errs)
	}
	if code, errs := send(mallory, "alice"); code != exitFailed || !strings.Contains(errs, `the name "alice" belongs to another key`) {
		t.Errorf("mallory as alice: exit %d, stderr %q; want refused", code, errs)
	}
	if code, errs := send(alice, "alice"); code != exitOK {
		t.Errorf("alice again: exit %d: %s", code, errs)
	}

	_, fp, _ := runCmdEnv(t, bob, "", "id")
	code, out, errs := runCmdEnv(t, bob, "/who\n", "chat", h.Addr, "--name", "bob")
	if code != exitOK || !strings.Contains(out, "key "+strings.TrimSpace(fp)) {
		t.Errorf("bob's /who: exit %d, stdout %q, stderr %q; want his fingerprint %s", code, out, errs, fp)
	}
}
