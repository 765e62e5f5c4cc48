package hub

// Members-only hubs.
//
// With Config.MembersFile, the hub admits only the identities the file
// lists, each under the name the file gives it, and its TLS identity is
// Config.HubIdentity, a key of its own, instead of one derived from an
// access key (mux/members.go). The file is read again when it changes
// (looked at every MembersPoll) and on ReloadMembers (serve calls it on
// SIGHUP); a client whose identity is no longer listed, or is listed under
// another name, is disconnected with code "not_member".
//
// The file holds one member per line, as authorized_keys holds keys:
//
//	# comments and blank lines are ignored
//	alice 3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c
//	bob   d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a  laptop
//
// a name (as a hello would keep it: letters, digits, "-", "_", "."), the
// identity's Ed25519 public key in hex (muxfer id --key prints it), and
// an optional comment. A name or a key may appear once.

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// MembersPoll is how often a members-only hub looks whether its members
// file changed.
const MembersPoll = time.Second

// maxMembersFile bounds the members file.
const maxMembersFile = 16 << 20

// memberList is a parsed members file: name by identity.
type memberList map[string]string // string(public key) -> name

// readMembers reads and checks a members file.
func readMembers(path string) (memberList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMembersFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMembersFile {
		return nil, fmt.Errorf("%s is over %d bytes", path, maxMembersFile)
	}
	return parseMembers(path, string(b))
}

// parseMembers parses the contents of the members file at path.
func parseMembers(path, text string) (memberList, error) {
	list := memberList{}
	names := map[string]bool{}
	n := 0
	for line := range strings.Lines(text) {
		n++
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		bad := func(why string) error { return fmt.Errorf("%s, line %d: %s", path, n, why) }
		if len(fields) < 2 {
			return nil, bad("want a name and a key")
		}
		name, k := fields[0], fields[1]
		if clean, err := cleanName(name); err != nil || clean != name {
			return nil, bad(fmt.Sprintf("%s is not a name a hello keeps (letters, digits, '-', '_' and '.', at most %d)", quote(name), MaxNameLen))
		}
		pub, err := hex.DecodeString(k)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, bad(fmt.Sprintf("%q is not an Ed25519 public key in hex (muxfer id --key prints one)", protocol.Clip(k, 80)))
		}
		if _, dup := list[string(pub)]; dup {
			return nil, bad("the key is listed twice")
		}
		if names[strings.ToLower(name)] {
			return nil, bad(fmt.Sprintf("the name %s is listed twice", name))
		}
		names[strings.ToLower(name)] = true
		list[string(pub)] = name
	}
	return list, nil
}

// membersOnly reports whether the hub admits members only.
func (h *Hub) membersOnly() bool { return h.cfg.MembersFile != "" }

// admitMember is mux.Config.Member: nil if pub is listed, or if invitation is
// one this hub made and pub becomes a member by it (invite.go).
func (h *Hub) admitMember(pub ed25519.PublicKey, invitation []byte) error {
	h.mu.Lock()
	_, ok := h.members[string(pub)]
	h.mu.Unlock()
	switch {
	case ok:
		return nil
	case len(invitation) == 0:
		return mux.ErrNotMember
	}
	return h.redeem(pub, invitation)
}

// ReloadMembers reads the members file again. If it cannot be read or is
// not valid, the hub keeps the members it had and returns why. A client
// whose identity is no longer listed, or is listed under another name, is
// disconnected.
func (h *Hub) ReloadMembers() error {
	if !h.membersOnly() {
		return nil
	}
	h.inviteMu.Lock() // not between a redemption's append and its update of h.members
	defer h.inviteMu.Unlock()
	list, err := readMembers(h.cfg.MembersFile)
	if err != nil {
		h.log.Error("members file not reloaded: keeping the members as they were", "file", h.cfg.MembersFile, "err", err)
		return err
	}
	h.mu.Lock()
	h.members = list
	var gone []*peer
	for _, p := range h.clients {
		if name, ok := list[string(p.sess.Identity())]; !ok || name != p.member {
			gone = append(gone, p)
		}
	}
	h.mu.Unlock()
	h.log.Info("members file reloaded", "file", h.cfg.MembersFile, "members", len(list), "disconnected", len(gone))
	for _, p := range gone {
		p.logf(slog.LevelInfo, "client removed", "id", p.info.ID, "name", p.name(), "reason", "no longer a member")
		p.refuse(protocol.CodeNotMember, "you are no longer a member of this hub")
	}
	return nil
}

// watchMembers reloads the members file whenever its size or time of
// change differs from the last look, until the hub closes.
func (h *Hub) watchMembers(last os.FileInfo) {
	t := time.NewTicker(MembersPoll)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-h.ctx.Done():
			return
		}
		info, err := os.Stat(h.cfg.MembersFile)
		if err != nil {
			continue // being replaced, or gone: the members stay as they were
		}
		if last == nil || info.Size() != last.Size() || !info.ModTime().Equal(last.ModTime()) {
			last = info
			h.ReloadMembers()
		}
	}
}
