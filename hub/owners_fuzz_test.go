package hub

import (
	"strings"
	"testing"
)

// FuzzOwnersFile reads any owners file: the hub skips what it cannot
// read, and holds no owner of a name that is not clean.
func FuzzOwnersFile(f *testing.F) {
	key := strings.Repeat("ab", 32)
	f.Add([]byte(key + " alice\n"))
	f.Add([]byte(key + " alice\n" + key + " ALICE\nnot a line\n" + key[:10]))
	f.Add([]byte(key + " al ice\n" + key + " \u0430lice\n\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o := &owners{byKey: map[string]*ownedName{}, counts: map[string]int{}, max: 1000}
		o.load(b)
		for _, on := range o.byKey {
			if clean, err := cleanName(on.name); err != nil || clean != on.name || len(on.pub) != 32 {
				t.Fatalf("holds an owner of %q (%d-byte key)", on.name, len(on.pub))
			}
		}
	})
}

// TestMembersFileRefusals: each way a members file can be wrong is
// refused with its line.
func TestMembersFileRefusals(t *testing.T) {
	k1, k2 := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	for _, tt := range []struct{ text, want string }{
		{"alice\n", "line 1: want a name and a key"},
		{"# ok\nal/ice " + k1 + "\n", "line 2: \"al/ice\" is not"},
		{"alice " + k1[:62] + "\n", "line 1: \"" + k1[:62] + "\" is not an Ed25519 public key"},
		{"alice " + k1 + "\nbob " + k1 + "\n", "line 2: the key is listed twice"},
		{"alice " + k1 + "\nALICE " + k2 + "\n", "line 2: the name ALICE is listed twice"},
		{"a\u200bb " + k1 + "\n", "line 1: \"a\\u200bb\" is not"},
	} {
		if _, err := parseMembers("members", tt.text); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.text, err, tt.want)
		}
	}
	list, err := parseMembers("members", "alice "+k1+" laptop\n\n  # x\nbob "+k2)
	if err != nil || len(list) != 2 {
		t.Errorf("a good file: %v, %v", list, err)
	}
}

// FuzzMembersFile parses any members file: refused, or every member has
// a clean name and a key.
func FuzzMembersFile(f *testing.F) {
	k := strings.Repeat("ab", 32)
	f.Add("alice " + k + " laptop\n# c\n\nbob " + strings.Repeat("cd", 32))
	f.Add("alice\n")
	f.Fuzz(func(t *testing.T, text string) {
		list, err := parseMembers("members", text)
		if err != nil {
			return
		}
		for pub, name := range list {
			if clean, err := cleanName(name); err != nil || clean != name || len(pub) != 32 {
				t.Fatalf("member %q (%d-byte key)", name, len(pub))
			}
		}
	})
}
