package client

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/muxfer/muxfer/internal/atomicfile"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/transfer"
)

// KnownPeers remembers, for each hub, the identity behind each name this
// person has dealt with: the first time a Session sends to a name, takes
// an offer from it or exchanges a direct message with it, it pins the
// name's identity (trust on first use, as ssh's known_hosts); from then
// on a different identity behind that name stops the send, the offer or
// the message with a *KeyChangedError, and nothing is sent. Forget drops a
// pin, for a person who really has a new identity.
//
// The file holds one pin per line, written whole each time a pin is
// added or dropped:
//
//	<hub> <name> <identity>
//
// where hub is the hub's TLS identity in hex (HubID), or "plain:" and its
// address for a hub without TLS; name is lower-cased; identity is the
// Ed25519 public key in hex. Several programs may share the file: each
// write reads it again first and keeps the pins others added.
type KnownPeers struct {
	path string // "" for pins kept in memory only
	mu   sync.Mutex
	pins map[pinKey]string // -> identity in hex
}

type pinKey struct{ hub, name string }

// KnownPeer is one pin of a KnownPeers.
type KnownPeer struct {
	Hub      string // the hub (see KnownPeers)
	Name     string // the name, lower-cased
	Identity string // the Ed25519 public key in hex
}

// MaxKnownPeers bounds the pins a KnownPeers keeps: a pin past it is
// refused with an error, and a longer file is refused as it is read.
const MaxKnownPeers = 10000

// KeyChangedError reports that a name does not have the identity pinned
// for it (see KnownPeers).
type KeyChangedError = transfer.KeyChangedError

// OpenKnownPeers reads the pins in the file at path, which need not exist
// yet; with path "", pins are kept in memory only.
func OpenKnownPeers(path string) (*KnownPeers, error) {
	k := &KnownPeers{path: path, pins: map[pinKey]string{}}
	if path == "" {
		return k, nil
	}
	pins, err := readPins(path)
	if err != nil {
		return nil, err
	}
	k.pins = pins
	return k, nil
}

// readPins reads a known-peers file; a missing one holds no pins.
func readPins(path string) (map[pinKey]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[pinKey]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A line is at most a hub (plain: and an address, or 64 hex digits), a
	// name of 32 characters of up to 4 bytes each and 64 hex digits.
	const maxLine = 300
	b, err := io.ReadAll(io.LimitReader(f, MaxKnownPeers*maxLine+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxKnownPeers*maxLine {
		return nil, fmt.Errorf("%s is over %d bytes: not a known-peers file", path, MaxKnownPeers*maxLine)
	}
	return parsePins(path, b)
}

// parsePins reads the contents b of the known-peers file at path.
func parsePins(path string, b []byte) (map[pinKey]string, error) {
	pins := map[pinKey]string{}
	for n, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		fields := strings.Fields(string(line))
		if len(fields) != 3 || len(pins) == MaxKnownPeers || !isIdentity(fields[2]) || !isPinnable(fields[1]) {
			return nil, fmt.Errorf("%s, line %d: not a pin (want: hub name identity)", path, n+1)
		}
		pins[pinKey{fields[0], strings.ToLower(fields[1])}] = fields[2]
	}
	return pins, nil
}

// isPinnable reports whether name may be pinned: a name as a hub gives
// it (letters, digits, "-_." and marks, at most MaxPinnedName bytes), so
// that a hostile hub cannot write a line of its own into the file, or
// send a terminal controls through muxfer peers.
func isPinnable(name string) bool {
	if name == "" || len(name) > maxPinnedName || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.M, r) && r != '-' && r != '_' && r != '.' {
			return false
		}
	}
	return true
}

// maxPinnedName bounds a pinned name: 32 characters of up to 4 bytes, and
// a "-1000" a hub may add to a name that was taken.
const maxPinnedName = 32*4 + 5

func isIdentity(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == ed25519.PublicKeySize && s == strings.ToLower(s)
}

// HubID is how KnownPeers names the hub that cfg reaches at addr: the hub's
// TLS identity in hex (a members-only hub's own, or the one the access key
// decides), or "plain:" and the address without TLS.
func HubID(addr string, cfg mux.Config) string {
	if cfg.HubKey != nil {
		return hex.EncodeToString(cfg.HubKey)
	}
	if cfg.InsecureNoTLS || cfg.Key.IsZero() {
		return "plain:" + mux.HubAddr(addr)
	}
	return hex.EncodeToString(cfg.Key.HubIdentity())
}

// Lookup returns the identity pinned for name on hub, if any.
func (k *KnownPeers) Lookup(hub, name string) (identity string, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	identity, ok = k.pins[pinKey{hub, strings.ToLower(name)}]
	return identity, ok
}

// Pin records identity for name on hub, unless a pin is there already
// (Lookup tells which it is; Forget drops one).
func (k *KnownPeers) Pin(hub, name, identity string) error {
	switch {
	case !isIdentity(identity):
		return fmt.Errorf("pin %q: %q is not an identity", name, identity)
	case !isPinnable(name) || strings.ContainsAny(hub, " \t\r\n") || hub == "":
		return fmt.Errorf("pin %q: not a name a hub gives", name)
	}
	key := pinKey{hub, strings.ToLower(name)}
	k.mu.Lock()
	_, pinned := k.pins[key]
	k.mu.Unlock()
	if pinned { // the usual case: no need to read the file again
		return nil
	}
	return k.change(func(pins map[pinKey]string) error {
		if _, ok := pins[key]; ok {
			return nil
		}
		if len(pins) >= MaxKnownPeers {
			return fmt.Errorf("pin %s: %d peers pinned already, the most kept (muxfer peers forget drops some)", name, MaxKnownPeers)
		}
		pins[key] = identity
		return nil
	})
}

// Forget drops the pins of name on every hub and returns how many there
// were.
func (k *KnownPeers) Forget(name string) (n int, err error) {
	name = strings.ToLower(name)
	err = k.change(func(pins map[pinKey]string) error {
		for key := range pins {
			if key.name == name {
				delete(pins, key)
				n++
			}
		}
		return nil
	})
	return n, err
}

// List returns every pin, ordered by name and then hub.
func (k *KnownPeers) List() []KnownPeer {
	k.mu.Lock()
	defer k.mu.Unlock()
	list := make([]KnownPeer, 0, len(k.pins))
	for key, id := range k.pins {
		list = append(list, KnownPeer{Hub: key.hub, Name: key.name, Identity: id})
	}
	slices.SortFunc(list, func(a, b KnownPeer) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Hub, b.Hub))
	})
	return list
}

// change applies edit to the pins, read again from the file first, and
// writes the file whole if they changed.
func (k *KnownPeers) change(edit func(map[pinKey]string) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	pins := k.pins
	if k.path != "" {
		var err error
		if pins, err = readPins(k.path); err != nil {
			return err
		}
	}
	before := maps.Clone(pins)
	if err := edit(pins); err != nil {
		return err
	}
	if k.path != "" && !maps.Equal(before, pins) {
		if err := writePins(k.path, pins); err != nil {
			return fmt.Errorf("known peers: %w", err)
		}
	}
	k.pins = pins
	return nil
}

// writePins replaces the file at path with pins, whole or not at all.
func writePins(path string, pins map[pinKey]string) error {
	lines := make([]string, 0, len(pins))
	for key, id := range pins {
		lines = append(lines, key.hub+" "+key.name+" "+id+"\n")
	}
	slices.Sort(lines)
	return atomicfile.Replace(path, []byte(strings.Join(lines, "")))
}

// lookup is Lookup on a KnownPeers that may be nil (none).
func (k *KnownPeers) lookup(hub, name string) (string, bool) {
	if k == nil {
		return "", false
	}
	return k.Lookup(hub, name)
}

// checkPeer returns the error of a name whose identity (hex, "" for none)
// is not the one pinned for it, or nil.
func (s *Session) checkPeer(name, identity string) *KeyChangedError {
	if pinned, ok := s.cfg.KnownPeers.lookup(s.hub, name); ok && pinned != identity {
		return &KeyChangedError{Name: name, Pinned: pinned, Now: identity}
	}
	return nil
}

// pinPeer pins identity for name if nothing is pinned for it yet. A pin
// that cannot be written is told as a Notice: the exchange goes on.
func (s *Session) pinPeer(name, identity string) {
	if s.cfg.KnownPeers == nil || identity == "" {
		return
	}
	if err := s.cfg.KnownPeers.Pin(s.hub, name, identity); err != nil {
		s.events.push(Notice{Text: "cannot pin " + name + "'s key: " + err.Error()})
	}
}

// expect returns the identity a send or a direct message to name must
// find: the pinned one, or else the one the hub lists for name now, which
// is then pinned ("" if name is not connected or proved none: the hub
// then says so, or delivers to whoever has the name, as without pins).
func (s *Session) expect(ctx context.Context, name string) (string, error) {
	if s.cfg.KnownPeers == nil {
		return "", nil
	}
	if pinned, ok := s.cfg.KnownPeers.Lookup(s.hub, name); ok {
		return pinned, nil
	}
	list, err := s.Who(ctx)
	if err != nil {
		return "", err
	}
	for _, p := range list {
		if strings.EqualFold(p.Name, name) && p.Identity != "" {
			s.pinPeer(p.Name, p.Identity)
			return p.Identity, nil
		}
	}
	return "", nil
}
