package hub

// Invitations to a members-only hub.
//
// NewInvitation, run where the hub runs (muxfer invite), makes an
// invitation for one name and records it in the invitations file beside
// the members file (FILE.invites, mode 0600), one line each:
//
//	<SHA-256 of the secret, hex> <name> <expiry, Unix seconds> <- or the identity that used it>
//
// The file holds no secret: reading it lets nobody in. When a client that
// is not a member presents an invitation's secret in its member proof,
// the hub finds its line, refuses it if it was used or has expired, marks
// it used by the client's identity, and then adds "name key" to the
// members file: the client is a member from then on, and the invitation
// is spent. A crash between the two leaves the invitation spent and
// nobody added, never two members by one invitation.

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/muxfer/muxfer/internal/atomicfile"
	"github.com/muxfer/muxfer/mux"
)

// maxInvitesFile bounds the invitations file.
const maxInvitesFile = 4 << 20

// invitesFile is where the invitations of the members file at members
// are kept.
func invitesFile(members string) string { return members + ".invites" }

// NewInvitation makes an invitation to the members-only hub whose members
// file is members and whose key is hubKey, for the name name, good until
// expires; it records it (see above) and returns it. It refuses a name
// the members file lists already.
func NewInvitation(members string, hubKey ed25519.PublicKey, name string, expires time.Time) (mux.Invitation, error) {
	if clean, err := cleanName(name); err != nil || clean != name {
		return mux.Invitation{}, fmt.Errorf("%s is not a name a hello keeps (letters, digits, '-', '_' and '.', at most %d)", quote(name), MaxNameLen)
	}
	list, err := readMembers(members)
	if err != nil {
		return mux.Invitation{}, err
	}
	for _, n := range list {
		if sameName(n, name) {
			return mux.Invitation{}, fmt.Errorf("%s is a member already", n)
		}
	}
	inv := mux.NewInvitation(hubKey)
	sum := sha256.Sum256(inv.Secret)
	line := fmt.Sprintf("%s %s %d -\n", hex.EncodeToString(sum[:]), name, expires.Unix())
	f, err := os.OpenFile(invitesFile(members), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return mux.Invitation{}, err
	}
	_, err = f.WriteString(line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return inv, err
}

// invite is one line of the invitations file.
type invite struct {
	hash, name string
	expires    time.Time
	usedBy     string // "-" until used
}

func (iv invite) String() string {
	return fmt.Sprintf("%s %s %d %s\n", iv.hash, iv.name, iv.expires.Unix(), iv.usedBy)
}

// readInvites reads the invitations file at path; lines it cannot read
// are kept as they are (raw) and match nothing.
func readInvites(path string) (invites []invite, raw []string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxInvitesFile+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b) > maxInvitesFile {
		return nil, nil, fmt.Errorf("%s is over %d bytes", path, maxInvitesFile)
	}
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) != 4 {
			raw = append(raw, line)
			continue
		}
		sec, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			raw = append(raw, line)
			continue
		}
		invites = append(invites, invite{hash: fields[0], name: fields[1], expires: time.Unix(sec, 0), usedBy: fields[3]})
	}
	return invites, raw, nil
}

// redeem makes pub a member by the invitation whose secret is secret, or
// says why not.
func (h *Hub) redeem(pub ed25519.PublicKey, secret []byte) error {
	h.inviteMu.Lock() // one redemption at a time: each reads and rewrites the files
	defer h.inviteMu.Unlock()
	path := invitesFile(h.cfg.MembersFile)
	invites, raw, err := readInvites(path)
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("no such invitation: mistyped, or not made for this hub")
	}
	if err != nil {
		h.log.Error("cannot read the invitations", "file", path, "err", err)
		return errors.New("the hub cannot read its invitations: tell its operator")
	}
	sum := sha256.Sum256(secret)
	hash := hex.EncodeToString(sum[:])
	i := -1
	for j, iv := range invites {
		if iv.hash == hash {
			i = j
		}
	}
	switch {
	case i < 0:
		return errors.New("no such invitation: mistyped, or not made for this hub")
	case invites[i].usedBy != "-":
		return errors.New("this invitation was used already: ask for a new one")
	case time.Now().After(invites[i].expires):
		return fmt.Errorf("this invitation expired at %s: ask for a new one", invites[i].expires.UTC().Format(time.RFC3339))
	}
	name := invites[i].name
	h.mu.Lock()
	for _, n := range h.members {
		if sameName(n, name) {
			h.mu.Unlock()
			return fmt.Errorf("%s is a member already: ask for an invitation under another name", n)
		}
	}
	h.mu.Unlock()
	invites[i].usedBy = hex.EncodeToString(pub)
	var b strings.Builder
	for _, iv := range invites {
		b.WriteString(iv.String())
	}
	for _, line := range raw {
		b.WriteString(line)
	}
	if err := atomicfile.Replace(path, []byte(b.String())); err != nil {
		h.log.Error("cannot mark an invitation used", "file", path, "err", err)
		return errors.New("the hub cannot record the invitation: tell its operator")
	}
	if err := appendMember(h.cfg.MembersFile, name, pub); err != nil {
		h.log.Error("cannot add an invited member", "file", h.cfg.MembersFile, "name", name, "err", err)
		return errors.New("the hub cannot add you to its members: tell its operator")
	}
	h.mu.Lock()
	h.members[string(pub)] = name
	h.mu.Unlock()
	h.log.Info("invitation taken", "name", name, "identity", hex.EncodeToString(pub))
	return nil
}

// appendMember adds a line for name and pub to the members file, on a
// line of its own.
func appendMember(path, name string, pub ed25519.PublicKey) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	line := name + " " + hex.EncodeToString(pub) + " invited " + time.Now().UTC().Format("2006-01-02") + "\n"
	if len(b) > 0 && b[len(b)-1] != '\n' {
		line = "\n" + line
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
