package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
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

// TestSendStopsWhenAPinnedKeyChanges: alice's first send to bob pins his
// key; a hub that has forgotten who owns "bob" (a new folder, the same
// access key) lets someone else be bob, and alice's next send stops with
// both fingerprints and the command that trusts the new key, nothing
// sent; muxfer peers lists the pin, and once it is forgotten the send
// goes through.
func TestSendStopsWhenAPinnedKeyChanges(t *testing.T) {
	key := mux.NewKey()
	config := t.TempDir()
	alice := func(n string) string {
		switch n {
		case "XDG_CONFIG_HOME":
			return config
		case keyEnv:
			return key.Text()
		}
		return ""
	}
	bobAt := func(addr string, id *client.Identity) string {
		dir := t.TempDir()
		s, err := client.Connect(t.Context(), addr, client.SessionConfig{Name: "bob", Key: key, Identity: id, Dir: dir,
			Decide: func(client.Offer) client.Decision { return client.Accept }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return dir
	}
	send := func(addr string) (int, string, string) {
		return runCmdEnv(t, alice, "", "send", addr, "--name", "alice", "--to", "bob", "--progress", "never", "../../testdata/hello.txt")
	}
	bob, other := client.NewIdentity(), client.NewIdentity()

	h1 := hubtest.Start(t, hub.Config{Mux: mux.Config{Key: key}})
	bobAt(h1.Addr, bob)
	if code, out, errs := send(h1.Addr); code != exitOK {
		t.Fatalf("first send: exit %d\n%s%s", code, out, errs)
	}
	h1.Close()

	h2 := hubtest.Start(t, hub.Config{Mux: mux.Config{Key: key}})
	inbox := bobAt(h2.Addr, other)
	code, out, errs := send(h2.Addr)
	for _, want := range []string{"the key of bob has changed", bob.Fingerprint(), other.Fingerprint()} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if code != exitFailed || !strings.Contains(out, "muxfer peers forget bob") {
		t.Errorf("send to the other bob: exit %d, want %d and the hint\nstdout:\n%s\nstderr:\n%s", code, exitFailed, out, errs)
	}
	if entries, _ := os.ReadDir(inbox); len(entries) > 0 {
		t.Errorf("the other bob received %v", entries)
	}

	code, out, _ = runCmdEnv(t, alice, "", "peers")
	if code != exitOK || !strings.HasPrefix(out, "bob "+bob.Fingerprint()+" hub ") {
		t.Errorf("peers: exit %d, %q", code, out)
	}
	if code, out, errs := runCmdEnv(t, alice, "", "peers", "forget", "bob"); code != exitOK || out != "forgot bob's key on 1 hub\n" {
		t.Errorf("peers forget bob: exit %d, %q %q", code, out, errs)
	}
	if code, out, errs := send(h2.Addr); code != exitOK {
		t.Errorf("send after forgetting: exit %d\n%s%s", code, out, errs)
	}
}

// TestBinaryMembersOnlyHub runs serve --members: it prints the line
// members need, admits the identity its file lists (found with muxfer id
// --key) without an access key, and refuses another.
func TestBinaryMembersOnlyHub(t *testing.T) {
	bin := buildBinary(t)
	alice, mallory := "XDG_CONFIG_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir()
	code, key, errs := runBinary(t, bin, []string{alice}, "id", "--key")
	if code != exitOK || len(strings.TrimSpace(key)) != 64 {
		t.Fatalf("id --key: exit %d, %q %q", code, key, errs)
	}
	members := filepath.Join(t.TempDir(), "members")
	if err := os.WriteFile(members, []byte("alice "+key), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := hubtest.StartServe(t, bin, nil, "--listen", "127.0.0.1:0", "--dir", t.TempDir(), "--members", members)
	if err != nil {
		t.Fatal(err)
	}
	line := h.Line(t)
	hubKey, ok := strings.CutPrefix(line, "muxfer chat "+h.Addr+" --hub-key ")
	if !ok || len(hubKey) != 64 {
		t.Fatalf("serve --members printed %q, want the line a member needs", line)
	}
	send := func(who string) (int, string, string) {
		return runBinary(t, bin, []string{who}, "send", h.Addr, "--hub-key", hubKey, "--name", "whoever", "--progress", "never", "../../testdata/hello.txt")
	}
	if code, out, errs := send(alice); code != exitOK || !strings.Contains(out, "as alice") {
		t.Errorf("alice: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := send(mallory); code != exitFailed || !strings.Contains(errs, "not a member of this hub") {
		t.Errorf("mallory: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runBinary(t, bin, []string{alice}, "send", h.Addr, "--hub-key", hubKey, "--key-file", members, "x"); code != exitUsage {
		t.Errorf("--hub-key with --key-file: exit %d, %s", code, errs)
	}
}

// TestBinaryInvitation: muxfer invite, run as the hub's user, prints a
// code alone on its last line; the new member joins with it once, and
// after that reaches the hub with no flag at all; the code does not work
// twice.
func TestBinaryInvitation(t *testing.T) {
	bin := buildBinary(t)
	hubUser, carol, mallory := "XDG_CONFIG_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir()
	members := filepath.Join(t.TempDir(), "members")
	if err := os.WriteFile(members, []byte("# nobody yet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := hubtest.StartServe(t, bin, []string{hubUser}, "--listen", "127.0.0.1:0", "--dir", t.TempDir(), "--members", members)
	if err != nil {
		t.Fatal(err)
	}
	h.Line(t)
	code, out, errs := runBinary(t, bin, []string{hubUser}, "invite", "--members", members, "--name", "carol", "--expires", "1h")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	invitation := lines[len(lines)-1]
	if code != exitOK || !strings.HasPrefix(invitation, "mxi1.") || strings.Contains(invitation, " ") {
		t.Fatalf("invite: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	send := func(env ...string) (int, string, string) {
		return runBinary(t, bin, env, "send", h.Addr, "--progress", "never", "../../testdata/hello.txt")
	}
	if code, out, errs := send(carol, inviteEnv+"="+invitation); code != exitOK || !strings.Contains(out, "as carol") {
		t.Fatalf("carol with the invitation: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := send(carol); code != exitOK || !strings.Contains(out, "as carol") {
		t.Errorf("carol again, with no flag: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs := send(mallory, inviteEnv+"="+invitation); code != exitFailed || !strings.Contains(errs, "this invitation was used already") {
		t.Errorf("the invitation again: exit %d, %s", code, errs)
	}
	if code, _, errs := send(mallory, inviteEnv+"=mxi1.abc"); code != exitFailed || !strings.Contains(errs, "not an invitation") {
		t.Errorf("a mistyped invitation: exit %d, %s", code, errs)
	}
	// Not as the hub's user: no invitation with a key of another hub.
	if code, out, errs := runBinary(t, bin, []string{mallory}, "invite", "--members", members, "--name", "eve"); code != exitFailed || out != "" || !strings.Contains(errs, "no hub identity") {
		t.Errorf("invite as another user: exit %d, %q, %s", code, out, errs)
	}
}
