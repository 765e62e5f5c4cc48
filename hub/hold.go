package hub

// Held transfers: files a client leaves for people who are not connected,
// sealed to their identities (see the protocol README, "Held
// transfers"). The hub keeps each in HeldFolder, as the folder of its id
// holding the sealed streams and, beside it, the record ID.json of who
// sent it to whom, when it expires and who took or declined it. It can
// read none of the files: it checks only that each stream arrived whole,
// as for any upload. A held transfer is deleted once every recipient has
// taken or declined it, when it expires (Config.Hold), or when its
// sender withdraws it; the sealed bytes of one sender's held transfers are
// bounded by Config.HoldQuota.

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/muxfer/muxfer/internal/atomicfile"
	"github.com/muxfer/muxfer/internal/units"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// HeldFolder is the folder, in the hub's, that holds the held transfers.
const HeldFolder = ".muxfer-held"

// Defaults of Config.Hold and Config.HoldQuota.
const (
	DefaultHold      = 7 * 24 * time.Hour
	DefaultHoldQuota = 10 << 30
)

// maxHoldRecord bounds a held transfer's record as it is read.
const maxHoldRecord = 1 << 20

// maxHeldStreams bounds the streams of one held transfer: a file each.
const maxHeldStreams = transfer.MaxFiles

// Bounds of the held transfers of one sender, and of the hub.
const (
	maxHoldsPerSender = 1000
	maxHolds          = 100_000
)

// holdRecord is a held transfer as the hub keeps it, in ID.json.
type holdRecord struct {
	ID           string            `json:"id"`
	From         string            `json:"from"`
	FromIdentity string            `json:"from_identity"`
	To           []protocol.Person `json:"to"`
	Created      int64             `json:"created"`
	Expires      int64             `json:"expires"`
	Bytes        int64             `json:"bytes"`
	Streams      int               `json:"streams"`
}

// describe is the record as a protocol.Hold; with to, its recipients too.
func (r *holdRecord) describe(to bool) protocol.Hold {
	h := protocol.Hold{ID: r.ID, From: r.From, FromIdentity: r.FromIdentity, Bytes: r.Bytes, Streams: r.Streams,
		Created: r.Created, Expires: r.Expires}
	if to {
		h.To = slices.Clone(r.To)
	}
	return h
}

// waitsFor reports whether the transfer waits for identity.
func (r *holdRecord) waitsFor(identity string) bool {
	for _, p := range r.To {
		if p.Identity == identity && p.State == protocol.HoldWaiting {
			return true
		}
	}
	return false
}

// pendingHold is a held upload not yet committed: its sender and bytes,
// and whether a session is uploading it now. It counts against its
// sender's quota until it is committed or its folder is swept.
type pendingHold struct {
	identity string
	bytes    int64
	active   bool
}

// holdStore is the hub's held transfers.
type holdStore struct {
	h       *Hub
	hubRoot *os.Root
	// root (HeldFolder) and recv, which takes the sealed streams as the
	// hub's receiver takes uploads, are set once, by open, under mu; nil
	// until the first held transfer.
	root *os.Root
	recv *transfer.Receiver

	mu      sync.Mutex
	held    map[string]*holdRecord // committed, by id
	pending map[string]pendingHold // held uploads not committed, by id
	wmu     sync.Mutex             // serialises writing and removing records
}

// openHolds reads the records of the held transfers in HeldFolder, if
// there is one, deleting those expired, and the folders of uploads that
// never finished once they are older than KeepParts. The folder is made
// with the first held upload.
func openHolds(h *Hub, root *os.Root) (*holdStore, error) {
	s := &holdStore{h: h, hubRoot: root, held: map[string]*holdRecord{}, pending: map[string]pendingHold{}}
	if _, err := root.Lstat(HeldFolder); errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err := s.open(); err != nil {
		return s, err
	}
	entries, err := fs.ReadDir(s.root.FS(), ".")
	if err != nil {
		return s, err
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || checkHoldID(id) != nil {
			continue
		}
		rec, err := s.read(id)
		if err != nil {
			h.log.Warn("cannot read a held transfer's record: it stays on disk, not offered", "id", id, "err", err)
			continue
		}
		s.held[id] = rec
	}
	s.expire()
	return s, nil
}

// open makes HeldFolder if there is none and opens it; s.mu is held, or
// s is not shared yet.
func (s *holdStore) open() error {
	if s.root != nil {
		return nil
	}
	if err := s.hubRoot.Mkdir(HeldFolder, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	r, err := s.hubRoot.OpenRoot(HeldFolder)
	if err != nil {
		return err
	}
	s.root = r
	s.recv = s.h.recv.Beside(r) // one reserve for uploads and held transfers
	if err := s.recv.OpenRecords(); err != nil {
		s.h.log.Warn("cannot keep the records of held streams across restarts", "err", err)
	}
	return nil
}

// close closes the held folder.
func (s *holdStore) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.root != nil {
		s.recv.CloseRecords()
		s.root.Close()
	}
}

// folder returns HeldFolder's root and receiver, or nils before the
// first held transfer.
func (s *holdStore) folder() (*os.Root, *transfer.Receiver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.root, s.recv
}

// read reads the record of id.
func (s *holdStore) read(id string) (*holdRecord, error) {
	f, err := s.root.Open(id + ".json")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHoldRecord+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxHoldRecord {
		return nil, errors.New("record too large")
	}
	rec := &holdRecord{}
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, err
	}
	if rec.ID != id {
		return nil, errors.New("the record is another transfer's")
	}
	return rec, nil
}

// write writes rec, whole or not at all, unless the transfer was removed
// meanwhile.
func (s *holdStore) write(rec *holdRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	_, held := s.held[rec.ID]
	_, pending := s.pending[rec.ID]
	s.mu.Unlock()
	if !held && !pending {
		return nil // removed: not written back
	}
	root, _ := s.folder()
	return atomicfile.ReplaceIn(root, rec.ID+".json", b)
}

// remove deletes the held transfer id, its record first.
func (s *holdStore) remove(id string) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	delete(s.held, id)
	delete(s.pending, id)
	root := s.root
	s.mu.Unlock()
	if err := root.Remove(id + ".json"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.h.log.Warn("cannot delete a held transfer's record", "id", id, "err", err)
	}
	if err := root.RemoveAll(id); err != nil {
		s.h.log.Warn("cannot delete a held transfer", "id", id, "err", err)
	}
}

// expire deletes the held transfers whose time is up, and the folders of
// held uploads that never finished and are older than KeepParts.
func (s *holdStore) expire() {
	now := s.h.now().Unix()
	s.mu.Lock()
	var gone []string
	for id, rec := range s.held {
		if rec.Expires <= now {
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		s.h.log.Info("held transfer expired", "id", id)
		s.remove(id)
	}
	root, recv := s.folder()
	if root == nil {
		return
	}
	keep := recv.KeepParts
	if keep <= 0 {
		keep = transfer.DefaultKeepParts
	}
	entries, _ := fs.ReadDir(root.FS(), ".")
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || checkHoldID(id) != nil {
			continue
		}
		s.mu.Lock()
		_, held := s.held[id]
		up := s.pending[id]
		s.mu.Unlock()
		info, err := e.Info()
		if held || up.active || err != nil || s.h.now().Sub(info.ModTime()) < keep {
			continue
		}
		s.remove(id) // an upload never finished: no longer counted against its sender
	}
	recv.Sweep()
}

// checkHoldID refuses an id that is not 32 lower-case hex digits.
func checkHoldID(id string) error {
	if len(id) != 32 || strings.ToLower(id) != id {
		return errors.New("a held transfer's id is 32 lower-case hex digits")
	}
	if _, err := hex.DecodeString(id); err != nil {
		return errors.New("a held transfer's id is 32 lower-case hex digits")
	}
	return nil
}

// checkHoldOffer checks a held transfer's offer from a client with
// identity: its recipients, and that its entries are the streams of one
// held transfer. It returns the sealed bytes.
func checkHoldOffer(o protocol.Offer, identity string) (int64, error) {
	spec := o.Hold
	if identity == "" {
		return 0, errors.New("holding files for people needs an identity: the files are signed with it")
	}
	if err := checkHoldID(spec.ID); err != nil {
		return 0, err
	}
	if len(spec.To) == 0 || len(spec.To) > protocol.MaxHoldRecipients {
		return 0, fmt.Errorf("a held transfer is for 1 to %d people", protocol.MaxHoldRecipients)
	}
	for _, p := range spec.To {
		if b, err := hex.DecodeString(p.Identity); err != nil || len(b) != 32 {
			return 0, fmt.Errorf("recipient %q: no identity", protocol.Clip(p.Name, 64))
		}
		if _, err := cleanName(p.Name); err != nil || len([]rune(p.Name)) > MaxNameLen {
			return 0, fmt.Errorf("recipient %q: not a name", protocol.Clip(p.Name, 64))
		}
	}
	var bytes int64
	streams := 0
	for _, f := range o.Files {
		name, ok := strings.CutPrefix(f.Path, spec.ID+"/")
		switch {
		case f.Path == spec.ID && f.Dir:
			continue
		case !ok || f.Dir || !heldStreamName(name):
			return 0, fmt.Errorf("%q is not a stream of held transfer %s", protocol.Clip(f.Path, 64), spec.ID)
		case f.Size < 0:
			return 0, errors.New("a held stream has a size")
		}
		bytes += f.Size
		streams++
	}
	if streams < 2 || streams > maxHeldStreams+2 {
		return 0, errors.New("a held transfer has a key, a manifest and its files' streams")
	}
	return bytes, nil
}

// heldStreamName reports whether name is one of a held transfer's
// streams: "key", "manifest", or a stream number.
func heldStreamName(name string) bool {
	if name == "key" || name == "manifest" {
		return true
	}
	n, err := strconv.ParseUint(name, 10, 32)
	return err == nil && strconv.FormatUint(n, 10) == name
}

// holdOffer takes a held transfer's offer: checked, within the sender's
// quota, prepared on the held folder's receiver. It reports whether it
// answered the offer (always, for a held one).
func (p *peer) holdOffer(o protocol.Offer) {
	reject := func(code, reason string) {
		p.logf(slog.LevelInfo, "held transfer refused", "id", p.info.ID, "name", p.info.Name, "reason", reason)
		p.answer(protocol.Reject{Transfer: protocol.Clip(o.Transfer, 64), Reason: reason, Code: code})
	}
	s := p.h.holds
	bytes, err := checkHoldOffer(o, p.info.Identity)
	if err != nil {
		reject("", err.Error())
		return
	}
	if err := transfer.CheckOffer(o); err != nil {
		reject("", err.Error())
		return
	}
	s.mu.Lock()
	refusal, code := s.admitLocked(o.Hold.ID, p.info.Identity, bytes, p.h.cfg.HoldQuota)
	if refusal == "" {
		if err = s.open(); err != nil {
			refusal = "the hub cannot hold files now"
			p.logf(slog.LevelWarn, "cannot make the folder of held transfers", "err", err)
		} else {
			s.pending[o.Hold.ID] = pendingHold{identity: p.info.Identity, bytes: bytes, active: true}
		}
	}
	s.mu.Unlock()
	if refusal != "" {
		reject(code, refusal)
		return
	}
	release := func() { // the offer was not taken: the upload is not active
		s.mu.Lock()
		if up, ok := s.pending[o.Hold.ID]; ok {
			up.active = false
			s.pending[o.Hold.ID] = up
		}
		s.mu.Unlock()
	}
	if err := p.takeEntries(len(o.Files)); err != nil {
		release()
		reject(protocol.CodeBusy, err.Error())
		return
	}
	_, recv := s.folder()
	in, err := recv.Prepare(o)
	if err != nil {
		release()
		p.releaseEntries(len(o.Files))
		code := ""
		switch {
		case errors.Is(err, transfer.ErrBusy):
			code = protocol.CodeBusy
		case transfer.NoRoom(err):
			code = protocol.CodeNoRoom
		}
		reject(code, err.Error())
		return
	}
	p.mu.Lock()
	p.transfers[o.Transfer] = in
	p.holding[o.Transfer] = *o.Hold
	p.mu.Unlock()
	p.answer(in.Accept())
	p.endIfDone(in)
}

// forgetPending ends a held upload whose sender left: what it stored
// stays, for it to resume, and counts against its quota until the sweep.
func (s *holdStore) forgetPending(id string) {
	s.mu.Lock()
	if up, ok := s.pending[id]; ok {
		up.active = false
		s.pending[id] = up
	}
	s.mu.Unlock()
}

// admitLocked says why the held upload id of bytes from identity is
// refused, and with what code, or "" if it may go on; s.mu is held.
func (s *holdStore) admitLocked(id, identity string, bytes, quota int64) (string, string) {
	if _, done := s.held[id]; done {
		return "this transfer is held already", ""
	}
	if up, ok := s.pending[id]; ok {
		switch {
		case up.identity != identity:
			return "this transfer's id is another sender's", ""
		case up.active:
			return "this transfer is being uploaded already", protocol.CodeBusy
		}
	}
	var mine int64
	holds := 0
	for hid, rec := range s.held {
		if rec.FromIdentity == identity && hid != id {
			mine += rec.Bytes
			holds++
		}
	}
	for pid, up := range s.pending {
		if up.identity == identity && pid != id {
			mine += up.bytes
			holds++
		}
	}
	switch {
	case mine+bytes > quota:
		return fmt.Sprintf("the hub holds %s for you at most, and %s already: withdraw some (muxfer held --withdraw ID) or wait until they are taken",
			units.Bytes(quota), units.Bytes(mine)), protocol.CodeLimit
	case holds >= maxHoldsPerSender:
		return fmt.Sprintf("the hub holds %d transfers for you already, the most it may", maxHoldsPerSender), protocol.CodeLimit
	case len(s.held)+len(s.pending) >= maxHolds:
		return "the hub holds all the transfers it may: try again later", protocol.CodeBusy
	}
	return "", ""
}

// commitHold makes the held upload of transfer id a held transfer, once
// every stream of it is stored: it records it, tells its sender, and
// tells those recipients who are connected. A held upload that ended
// with streams missing is left for its sender to offer again.
func (p *peer) commitHold(in *transfer.Incoming, spec protocol.HoldSpec) {
	s := p.h.holds
	s.forgetPending(spec.ID) // until it is committed below
	st := in.Stats()
	if st.Failed > 0 {
		return
	}
	rec := &holdRecord{ID: spec.ID, From: p.name(), FromIdentity: p.info.Identity, Created: p.h.now().Unix(),
		Expires: p.h.now().Add(p.h.cfg.Hold).Unix()}
	for _, t := range spec.To {
		rec.To = append(rec.To, protocol.Person{Name: t.Name, Identity: t.Identity, State: protocol.HoldWaiting})
	}
	root, _ := s.folder()
	entries, err := fs.ReadDir(root.FS(), spec.ID)
	if err != nil {
		p.logf(slog.LevelWarn, "a held transfer's streams are missing", "id", spec.ID, "err", err)
		return
	}
	have := map[string]bool{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !heldStreamName(e.Name()) {
			continue
		}
		have[e.Name()] = true
		rec.Bytes += info.Size()
		if e.Name() != "key" && e.Name() != "manifest" {
			rec.Streams++
		}
	}
	if !have["key"] || !have["manifest"] {
		p.logf(slog.LevelWarn, "a held transfer lacks its key or manifest", "id", spec.ID)
		return
	}
	if err := s.write(rec); err != nil {
		p.logf(slog.LevelWarn, "cannot record a held transfer", "id", spec.ID, "err", err)
		return
	}
	s.mu.Lock()
	s.held[rec.ID] = rec
	delete(s.pending, rec.ID)
	s.mu.Unlock()
	p.logf(slog.LevelInfo, "held transfer stored", "id", rec.ID, "from", rec.From, "to", len(rec.To), "bytes", rec.Bytes, "expires", rec.Expires)
	p.answer(protocol.Held{ID: rec.ID, To: rec.To, Expires: rec.Expires})
	p.h.tellWaiting(rec)
}

// tellWaiting tells each connected recipient of rec that it waits.
func (h *Hub) tellWaiting(rec *holdRecord) {
	h.holds.mu.Lock()
	waiting := map[string]bool{}
	for _, p := range rec.To {
		if p.State == protocol.HoldWaiting {
			waiting[p.Identity] = true
		}
	}
	hold := rec.describe(false)
	h.holds.mu.Unlock()
	h.mu.Lock()
	var to []*peer
	for _, c := range h.clients {
		if c.info.Identity != "" && waiting[c.info.Identity] {
			to = append(to, c)
		}
	}
	h.mu.Unlock()
	for _, c := range to {
		c.say(protocol.Waiting{Holds: []protocol.Hold{hold}})
	}
}

// waitingFor lists the held transfers that wait for identity, oldest
// first, at most protocol.MaxHoldsListed.
func (s *holdStore) waitingFor(identity string) []protocol.Hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []protocol.Hold
	now := s.h.now().Unix()
	for _, rec := range s.held {
		if rec.waitsFor(identity) && rec.Expires > now {
			out = append(out, rec.describe(false))
		}
	}
	slices.SortFunc(out, func(a, b protocol.Hold) int { return int(a.Created - b.Created) })
	return out[:min(len(out), protocol.MaxHoldsListed)]
}

// release records that identity took or declined held transfer id, and
// deletes it once nobody waits for it.
func (s *holdStore) release(id, identity string, taken bool) {
	s.mu.Lock()
	rec := s.held[id]
	if rec == nil || !rec.waitsFor(identity) {
		s.mu.Unlock()
		return
	}
	left := 0
	for i := range rec.To {
		if rec.To[i].Identity == identity && rec.To[i].State == protocol.HoldWaiting {
			rec.To[i].State = protocol.HoldDeclined
			if taken {
				rec.To[i].State = protocol.HoldTaken
			}
		}
		if rec.To[i].State == protocol.HoldWaiting {
			left++
		}
	}
	copied := *rec
	copied.To = slices.Clone(rec.To)
	s.mu.Unlock()
	if left == 0 {
		s.h.log.Info("held transfer delivered", "id", id)
		s.remove(id)
		return
	}
	if err := s.write(&copied); err != nil {
		s.h.log.Warn("cannot record a held transfer", "id", id, "err", err)
	}
}

// withdraw deletes held transfer id of the sender identity.
func (s *holdStore) withdraw(id, identity string) error {
	s.mu.Lock()
	rec := s.held[id]
	s.mu.Unlock()
	if rec == nil || rec.FromIdentity != identity {
		return fmt.Errorf("you hold no transfer %q here", protocol.Clip(id, 64))
	}
	s.remove(id)
	return nil
}

// sentBy lists the held transfers of the sender identity, oldest first.
func (s *holdStore) sentBy(identity string) []protocol.Hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []protocol.Hold
	for _, rec := range s.held {
		if rec.FromIdentity == identity {
			out = append(out, rec.describe(true))
		}
	}
	slices.SortFunc(out, func(a, b protocol.Hold) int { return int(a.Created - b.Created) })
	return out[:min(len(out), protocol.MaxHoldsListed)]
}

// holdFor returns held transfer id if it waits for identity.
func (s *holdStore) holdFor(id, identity string) *holdRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.held[id]; rec != nil && identity != "" && rec.waitsFor(identity) && rec.Expires > s.h.now().Unix() {
		return rec
	}
	return nil
}

// holdManifest builds what a get of the streams names of held transfer
// id sends to its recipient: each stream under its own name.
func (h *Hub) holdManifest(id, identity string, names []string) (*transfer.Manifest, *findError) {
	root, _ := h.holds.folder()
	if root == nil || h.holds.holdFor(id, identity) == nil {
		return nil, &findError{protocol.CodeNotFound, fmt.Sprintf("no held transfer %q waits for you", protocol.Clip(id, 64))}
	}
	var files []protocol.File
	var local []string
	seen := map[string]bool{}
	for _, name := range names {
		if !heldStreamName(name) || seen[name] {
			return nil, notFound(name)
		}
		seen[name] = true
		p := path.Join(id, name)
		info, err := root.Lstat(p)
		if err != nil || !info.Mode().IsRegular() {
			return nil, notFound(name)
		}
		files = append(files, protocol.File{Path: name, Size: info.Size(), Mode: 0o600, MTime: info.ModTime().UnixNano()})
		local = append(local, p)
	}
	return transfer.InRoot(root, files, local), nil
}

// holdsAsked answers Holds: it withdraws what the client asks to, and
// lists what it holds.
func (p *peer) holdsAsked(m protocol.Holds) {
	out := protocol.Holdings{ID: protocol.Clip(m.ID, 64)}
	if m.Withdraw != "" {
		if err := p.h.holds.withdraw(m.Withdraw, p.info.Identity); err != nil {
			out.Error, out.Code = err.Error(), protocol.CodeNotFound
		} else {
			p.logf(slog.LevelInfo, "held transfer withdrawn", "id", m.Withdraw, "by", p.info.Name)
		}
	}
	out.Holds = p.h.holds.sentBy(p.info.Identity)
	if out.Holds == nil {
		out.Holds = []protocol.Hold{}
	}
	p.answer(out)
}

// lookup answers Lookup: each name's identity, owned or connected.
func (p *peer) lookup(m protocol.Lookup) {
	out := protocol.People{ID: protocol.Clip(m.ID, 64), People: []protocol.Person{}}
	h := p.h
	h.mu.Lock()
	for _, name := range m.Names {
		person := protocol.Person{Name: protocol.Clip(name, 4*MaxNameLen)}
		if id, ok := h.names[strings.ToLower(name)]; ok {
			if c := h.clients[id]; c != nil && c.info.Identity != "" {
				person.Identity, person.Online = c.info.Identity, true
			}
		}
		if person.Identity == "" {
			person.Identity = h.ownerOfLocked(name)
		}
		out.People = append(out.People, person)
	}
	h.mu.Unlock()
	p.answer(out)
}

// now is the hub's clock: Config.Now, or the time.
func (h *Hub) now() time.Time {
	if h.cfg.Now != nil {
		return h.cfg.Now()
	}
	return time.Now()
}

// ownerOfLocked returns the identity, in hex, that name belongs to: its
// member's on a members-only hub, its owner's otherwise; "" for none.
// h.mu is held.
func (h *Hub) ownerOfLocked(name string) string {
	if h.membersOnly() {
		for pub, n := range h.members {
			if sameName(n, name) {
				return hex.EncodeToString([]byte(pub))
			}
		}
		return ""
	}
	return h.owners.owner(name)
}
