package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
