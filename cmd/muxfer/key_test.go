package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
)

// TestHubKeyIsCreatedOnceAndKeptPrivate: a hub without a key makes one in
// its config directory, in a 0600 file, and uses the same one next time.
func TestHubKeyIsCreatedOnceAndKeptPrivate(t *testing.T) {
	cfgDir := t.TempDir()
	e := env{getenv: func(n string) string {
		if n == "XDG_CONFIG_HOME" {
			return cfgDir
		}
		return ""
	}}
	kf := func() keyFlags {
		k, f, i := "", "", false
		return keyFlags{key: &k, keyFile: &f, insecure: &i}
	}
	first, src, err := kf().access(e, true)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfgDir, "muxfer", "hub.key")
	if src != (keySource{name: path, created: true}) {
		t.Errorf("key source %+v, want %q, created", src, path)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, info.Mode())
	}
	again, src, err := kf().access(e, true)
	if err != nil || again.Key.Text() != first.Key.Text() || src.created {
		t.Errorf("second start: key %v, %+v, %v; want the first one, not created", again.Key, src, err)
	}
	os.Chmod(path, 0o644)
	if _, _, err := kf().access(e, true); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key file others can read was accepted: %v", err)
	}
	if _, _, err := kf().access(e, false); err == nil || !strings.Contains(err.Error(), "no access key") {
		t.Errorf("a client without a key: %v", err)
	}
}

func TestKeySourcesAndRefusals(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	keyFile := filepath.Join(t.TempDir(), "k")
	os.WriteFile(keyFile, []byte(h.Key.Text()+"\n"), 0o600)
	noEnv := func(string) string { return "" }
	wrong := mux.NewKey().Text()
	tests := []struct {
		name   string
		getenv func(string) string
		args   []string
		code   int
		stderr string
	}{
		{"key file", noEnv, []string{"send", h.Addr, "../../testdata/hello.txt", "--key-file", keyFile}, exitOK, ""},
		{"--key", noEnv, []string{"send", h.Addr, "../../testdata/hello.txt", "--key", h.Key.Text()}, exitOK, ""},
		{"no key", noEnv, []string{"send", h.Addr, "../../testdata/hello.txt"}, exitFailed, "no access key: set MUXFER_KEY"},
		{"wrong key", func(string) string { return wrong }, []string{"send", h.Addr, "../../testdata/hello.txt"}, exitFailed, "authentication failed"},
		{"short key", noEnv, []string{"chat", h.Addr, "--key", "mxk1.aaaaaaaaaaaaaaaa"}, exitFailed, "access key has 80 bits, at least 128 are needed"},
		{"a letter left out", func(string) string { return dropLetter(h.Key.Text(), 20) }, []string{"send", h.Addr, "../../testdata/hello.txt"},
			exitFailed, "access key from MUXFER_KEY: the key is mistyped: its checksum does not match"},
		{"a letter changed", noEnv, []string{"chat", h.Addr, "--key", changeLetter(h.Key.Text(), 30)}, exitFailed, "the key is mistyped: its checksum does not match"},
		{"a password", noEnv, []string{"chat", h.Addr, "--key", "hunter2"}, exitFailed, "not a muxfer access key"},
		{"both flags", noEnv, []string{"chat", h.Addr, "--key", wrong, "--key-file", keyFile}, exitUsage, "not both"},
		{"keygen", noEnv, []string{"keygen"}, exitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmdEnv(t, tt.getenv, "", tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, tt.code, tt.stderr)
			}
			if tt.name == "keygen" {
				if _, err := mux.ParseKey(out); err != nil {
					t.Errorf("keygen printed %q: %v", out, err)
				}
			}
		})
	}
}

// TestHubsStartingTogetherShareOneKey: hubs that create the key file at
// the same moment end up with the same key, and no temporary file stays.
func TestHubsStartingTogetherShareOneKey(t *testing.T) {
	cfgDir := t.TempDir()
	e := env{getenv: func(n string) string {
		if n == "XDG_CONFIG_HOME" {
			return cfgDir
		}
		return ""
	}}
	const hubs = 8
	keys := make(chan string, hubs)
	for range hubs {
		go func() {
			k, f, i := "", "", false
			cfg, _, err := keyFlags{key: &k, keyFile: &f, insecure: &i}.access(e, true)
			if err != nil {
				keys <- "error: " + err.Error()
				return
			}
			keys <- cfg.Key.Text()
		}()
	}
	first := <-keys
	for range hubs - 1 {
		if k := <-keys; k != first {
			t.Errorf("two hubs got %q and %q", first, k)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(cfgDir, "muxfer"))
	if len(entries) != 1 || entries[0].Name() != "hub.key" {
		t.Errorf("config folder holds %v, want only hub.key", entries)
	}
	if info, err := os.Stat(filepath.Join(cfgDir, "muxfer")); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("config folder mode %v, %v; want 0700", info.Mode(), err)
	}
}

// dropLetter returns key without its i-th letter, as a hurried typist
// would copy it.
func dropLetter(key string, i int) string { return key[:i] + key[i+1:] }

// changeLetter returns key with its i-th letter replaced by another.
func changeLetter(key string, i int) string {
	c := byte('a')
	if key[i] == c {
		c = 'b'
	}
	return key[:i] + string(c) + key[i+1:]
}
