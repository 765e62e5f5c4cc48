package hub_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/protocol"
)

const cyrillicAlice = "\u0430li\u0441\u0435" // аliсе: Cyrillic а, с and е

// dialRefused says hello as name and returns the hub's refusal, failing
// the test if the hub welcomes the client instead.
func dialRefused(t *testing.T, addr, name string) *protocol.Error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Config{Name: name, Mux: hubtest.ClientConfig(addr)})
	if err == nil {
		c.Close()
		t.Fatalf("hello as %+q: welcomed as %+q, want a refusal", name, c.Name())
	}
	var refusal *protocol.Error
	if !errors.As(err, &refusal) {
		t.Fatalf("hello as %+q: %v, want the hub's Error", name, err)
	}
	return refusal
}

// leave closes c and waits until the hub has let it go.
func leave(t *testing.T, h *hubtest.Hub, c *hubtest.Client) {
	t.Helper()
	name := c.Name()
	c.Close()
	waitUntil(t, name+" to leave", func() bool {
		for _, ci := range h.Clients() {
			if ci.Name == name {
				return false
			}
		}
		return true
	})
}

// TestHelloRefusesLookalikeNames: while alice is connected, and for a day
// after she left, a hello as аliсе is refused with an Error of code
// limit that names her; alice herself may come back.
func TestHelloRefusesLookalikeNames(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	alice := hubtest.Dial(t, h.Addr, "alice")
	want := `name "\u0430li\u0441\u0435" looks like "alice", which is in use`
	if e := dialRefused(t, h.Addr, cyrillicAlice); e.Code != protocol.CodeLimit || e.Text != want {
		t.Errorf("while alice is connected: refused with %+v, want code %q and text %q", e, protocol.CodeLimit, want)
	}
	if got := hubtest.Dial(t, h.Addr, "ALICE").Name(); got != "ALICE-2" {
		t.Errorf("ALICE beside alice got %q, want ALICE-2 as before", got)
	}

	leave(t, h, alice)
	want = `name "\u0430li\u0441\u0435" looks like "alice", which was in use recently`
	if e := dialRefused(t, h.Addr, cyrillicAlice); e.Code != protocol.CodeLimit || e.Text != want {
		t.Errorf("after alice left: refused with %+v, want code %q and text %q", e, protocol.CodeLimit, want)
	}
	if got := hubtest.Dial(t, h.Addr, "alice").Name(); got != "alice" {
		t.Errorf("alice coming back got %q", got)
	}
	if e := dialRefused(t, h.Addr, "\u0430lice"); e.Code != protocol.CodeLimit || !strings.Contains(e.Text, `looks like "alice", which is in use`) {
		t.Errorf("after alice came back: refused with %+v, want her name in use", e)
	}
}

// TestHelloRefusesInvisibleCharacters: a hello whose name has a character
// that does not show is refused with an Error of code bad_message saying
// which, rather than given a name the client did not ask for.
func TestHelloRefusesInvisibleCharacters(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	hubtest.Dial(t, h.Addr, "bob")
	tests := []struct{ name, ask, reason string }{
		{"zero-width space", "ali\u200bce", `name "ali\u200bce" has an invisible character, U+200B`},
		{"zero-width joiner", "bo\u200db", `name "bo\u200db" has an invisible character, U+200D`},
		{"soft hyphen", "al\u00adice", `name "al\u00adice" has an invisible character, U+00AD`},
		{"byte order mark", "\ufeffbob", `name "\ufeffbob" has an invisible character, U+FEFF`},
		{"tag character", "bob\U000e0062", `name "bob\U000e0062" has an invisible character, U+E0062`},
		{"bidi override", "\u202ebob", `name "\u202ebob" has an invisible character, U+202E`},
		{"Hangul filler alone", "\u3164", `name "\u3164" has an invisible character, U+3164`},
		{"combining marks alone", "\u0301\u0301", `name "\u0301\u0301" has a combining mark, U+0301, with no letter before it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e := dialRefused(t, h.Addr, tt.ask); e.Code != protocol.CodeBadMessage || e.Text != tt.reason {
				t.Errorf("refused with %+v, want code %q and text %q", e, protocol.CodeBadMessage, tt.reason)
			}
		})
	}
}

// TestHelloAcceptsNamesInAnyScript: a name wholly in Cyrillic, Greek,
// Han, Hangul or Devanagari is welcomed unchanged beside Latin names.
func TestHelloAcceptsNamesInAnyScript(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	for _, n := range []string{"alice", "ivan", "eleni", "arjun", "bob"} {
		hubtest.Dial(t, h.Addr, n)
	}
	for _, n := range []string{
		"\u0418\u0432\u0430\u043d",             // Иван
		"\u0395\u03bb\u03ad\u03bd\u03b7",       // Ελένη
		"\u738b\u5c0f\u660e",                   // 王小明
		"\uae40\ubbfc\uc900",                   // 김민준
		"\u0905\u0930\u094d\u091c\u0941\u0928", // अर्जुन
		"Jose\u0301",                           // José, decomposed
	} {
		if got := hubtest.Dial(t, h.Addr, n).Name(); got != n {
			t.Errorf("hello as %+q got %+q, want it unchanged", n, got)
		}
	}
}

// TestRenameRefusesLookalikeNames: a nick to a look-alike of a name in
// use, or used recently, or with an invisible character, is refused with
// a reason, and the session goes on; a nick to a name that left, or to a
// look-alike of one's own name, is not.
func TestRenameRefusesLookalikeNames(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	alice := hubtest.Dial(t, h.Addr, "alice")
	bob := hubtest.Dial(t, h.Addr, "bob")
	carol := hubtest.Dial(t, h.Addr, "carol")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	rename := func(c *hubtest.Client, want, got, reason string) {
		t.Helper()
		name, err := c.Rename(ctx, want)
		switch {
		case reason == "" && err != nil:
			t.Errorf("Rename(%+q): %v", want, err)
		case reason != "" && (!errors.Is(err, client.ErrNameRefused) || !strings.Contains(err.Error(), reason)):
			t.Errorf("Rename(%+q) error %v, want ErrNameRefused saying %q", want, err, reason)
		case name != got:
			t.Errorf("Rename(%+q) = %+q, want %+q", want, name, got)
		}
		if err := c.Chat("still here"); err != nil {
			t.Fatal(err)
		}
		if err := c.Err(); err != nil {
			t.Errorf("%s's session ended: %v", got, err)
		}
	}
	rename(bob, cyrillicAlice, "bob", `name "\u0430li\u0441\u0435" looks like "alice", which is in use`)
	rename(bob, "b\u200bob", "bob", `name "b\u200bob" has an invisible character, U+200B`)
	rename(bob, "\u0418\u0432\u0430\u043d", "\u0418\u0432\u0430\u043d", "")
	rename(carol, "B\u043eB", "carol", `name "B\u043eB" looks like "bob", which was in use recently`)
	rename(carol, "\u0441arol", "\u0441arol", "") // her own name's look-alike

	leave(t, h, alice)
	rename(bob, cyrillicAlice, "\u0418\u0432\u0430\u043d", `looks like "alice", which was in use recently`)
	rename(bob, "Alice", "Alice", "")
}

// TestRecentNamesForgetTheOldest: with room for two names, the third to
// leave pushes out the first, whose look-alike may then come in, while
// the others' look-alikes are still refused.
func TestRecentNamesForgetTheOldest(t *testing.T) {
	h := hubtest.Start(t, hub.Config{})
	h.SetRecentNames(2)
	for _, n := range []string{"alice", "bob", "carol"} {
		leave(t, h, hubtest.Dial(t, h.Addr, n))
	}
	if got := hubtest.Dial(t, h.Addr, cyrillicAlice).Name(); got != cyrillicAlice {
		t.Errorf("hello as %+q once alice was forgotten got %+q", cyrillicAlice, got)
	}
	for _, look := range []string{"b\u043eb", "\u0441arol"} {
		if e := dialRefused(t, h.Addr, look); !strings.Contains(e.Text, "which was in use recently") {
			t.Errorf("hello as %+q refused with %+v, want it refused as a look-alike of a recent name", look, e)
		}
	}
}
