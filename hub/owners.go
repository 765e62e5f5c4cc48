package hub

// Names that belong to identities.
//
// The first client that proves an identity (mux.Session.Identity) and is
// given a name owns that name on this hub from then on: another identity,
// or a client with none, asking for it (or for a name that looks like it,
// by the look-alike keys of names.go) is refused with code "name_owned",
// whether or not the owner is connected. The hub keeps the owners in
// OwnersFile in its folder, one line per name, appended as names are
// first taken:
//
//	<64 hex digits of the Ed25519 public key> <name>
//
// An operator frees a name by deleting its line while the hub is
// stopped. A line that cannot be read (a write cut by a crash leaves at
// most the last one torn) is skipped and logged.

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/muxfer/muxfer/protocol"
)

const (
	// OwnersFile is the file in the hub's folder that holds which
	// identity owns which name. Its name starts with ".muxfer-", which no
	// upload may use.
	OwnersFile = ".muxfer-names"

	// NamesPerIdentity bounds the names one identity may own on a hub:
	// each name it is given (a rename too) is its own from then on.
	NamesPerIdentity = 16

	// DefaultMaxOwnedNames is the default of Config.MaxOwnedNames.
	DefaultMaxOwnedNames = 100_000
)

// owners maps names to the identities that own them. The hub's mu guards
// it.
type owners struct {
	root   *os.Root              // the hub's folder
	f      *os.File              // OwnersFile, appended to; nil until there is one
	byKey  map[string]*ownedName // look-alike key -> the owned name filed under it
	counts map[string]int        // owner's public key -> names it owns
	total  int
	max    int // Config.MaxOwnedNames
}

// ownedName is a name and its owner's public key.
type ownedName struct {
	name string
	pub  string // the raw key bytes
}

// openOwners reads the owners file in root's folder, if there is one,
// and keeps it open to record new owners (a hub that never gives an
// identity a name makes none). It returns the number of lines it skipped.
func openOwners(root *os.Root, max int) (*owners, int, error) {
	o := &owners{root: root, byKey: map[string]*ownedName{}, counts: map[string]int{}, max: max}
	f, err := root.OpenFile(OwnersFile, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		return o, 0, nil
	}
	if err != nil {
		return o, 0, err
	}
	o.f = f
	// Each line is at most a key, a space, a name and a newline.
	limit := int64(max) * int64(2*ed25519.PublicKeySize+1+4*MaxNameLen+1)
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return o, 0, err
	}
	if int64(len(b)) > limit {
		return o, 0, fmt.Errorf("%s is over %d bytes: more names than the hub may hold (%d)", OwnersFile, limit, max)
	}
	if i := bytes.LastIndexByte(b, '\n'); i+1 < len(b) {
		// A torn last line: drop it, so that the next line appended
		// starts a line of its own.
		if err := f.Truncate(int64(i + 1)); err != nil {
			return o, 0, err
		}
		b = b[:i+1]
	}
	return o, o.load(b), nil
}

// load files the owners in b, the contents of an owners file, and returns
// how many lines it skipped.
func (o *owners) load(b []byte) (skipped int) {
	for line := range strings.Lines(string(b)) {
		pub, name, ok := parseOwner(strings.TrimSuffix(line, "\n"))
		if !ok || o.check(name, pub) != nil {
			skipped++
			continue
		}
		o.add(name, pub)
	}
	return skipped
}

// parseOwner reads one line of the owners file.
func parseOwner(line string) (ed25519.PublicKey, string, bool) {
	k, name, ok := strings.Cut(line, " ")
	pub, err := hex.DecodeString(k)
	if !ok || err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, "", false
	}
	if clean, err := cleanName(name); err != nil || clean != name {
		return nil, "", false
	}
	return pub, name, true
}

// check returns why the client with identity pub (nil for none) may not
// have name: a refusal of code "name_owned" if another identity owns it
// or a name that looks like it, or of code "limit" if pub would own more
// names than it or the hub may. nil means it may.
func (o *owners) check(name string, pub ed25519.PublicKey) *protocol.Error {
	mine := false
	for _, k := range lookKeys(name) {
		if on, ok := o.byKey[k]; ok {
			if on.pub != string(pub) {
				if sameName(on.name, name) {
					return &protocol.Error{Code: protocol.CodeNameOwned, Text: fmt.Sprintf("the name %s belongs to another key", quote(name))}
				}
				return &protocol.Error{Code: protocol.CodeNameOwned,
					Text: fmt.Sprintf("the name %s looks like %q, which belongs to another key", quote(name), on.name)}
			}
			mine = mine || sameName(on.name, name)
		}
	}
	switch {
	case pub == nil || mine:
		return nil
	case o.counts[string(pub)] >= NamesPerIdentity:
		return &protocol.Error{Code: protocol.CodeLimit,
			Text: fmt.Sprintf("this identity owns %d names on this hub already, the most it may", NamesPerIdentity)}
	case o.total >= o.max:
		return &protocol.Error{Code: protocol.CodeLimit, Text: fmt.Sprintf("the hub has given out all the names it may keep (%d)", o.max)}
	}
	return nil
}

// take makes name pub's, if pub is an identity and the name is not its
// already, and records it in the owners file. It returns an error if the
// record cannot be written: the name is then not given.
func (o *owners) take(name string, pub ed25519.PublicKey) error {
	if pub == nil || o.owns(name, pub) {
		return nil
	}
	if o.f == nil {
		f, err := o.root.OpenFile(OwnersFile, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("recording the name's owner: %w", err)
		}
		o.f = f
	}
	line := hex.EncodeToString(pub) + " " + name + "\n"
	if _, err := o.f.WriteString(line); err != nil {
		return fmt.Errorf("recording the name's owner: %w", err)
	}
	if err := o.f.Sync(); err != nil {
		return fmt.Errorf("recording the name's owner: %w", err)
	}
	o.add(name, pub)
	return nil
}

// owner returns the identity, in hex, that owns name itself, or "".
func (o *owners) owner(name string) string {
	for _, k := range lookKeys(name) {
		if on, ok := o.byKey[k]; ok && sameName(on.name, name) {
			return hex.EncodeToString([]byte(on.pub))
		}
	}
	return ""
}

// owns reports whether pub owns name itself.
func (o *owners) owns(name string, pub ed25519.PublicKey) bool {
	for _, k := range lookKeys(name) {
		if on, ok := o.byKey[k]; ok && on.pub == string(pub) && sameName(on.name, name) {
			return true
		}
	}
	return false
}

// add files name as pub's, in memory.
func (o *owners) add(name string, pub ed25519.PublicKey) {
	on := &ownedName{name: name, pub: string(pub)}
	for _, k := range lookKeys(name) {
		if _, ok := o.byKey[k]; !ok {
			o.byKey[k] = on
		}
	}
	o.counts[on.pub]++
	o.total++
}

// close closes the owners file.
func (o *owners) close() error {
	if o.f == nil {
		return nil
	}
	return o.f.Close()
}
