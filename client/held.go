package client

// Receiving held transfers: files sealed for this client while it was
// away. The hub says what waits (OnWaiting); the client gets the
// transfer's key and manifest into a folder of its own inside the
// receiving folder, opens them with its identity, checks the sender's
// signature, and offers the files as any offer. Once accepted, it gets
// the sealed streams (resuming, as any get) and opens each into the
// receiving folder with the checks of any received file, verified against
// the SHA-256 the sender signed.

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/muxfer/muxfer/internal/seal"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
)

// heldPrefix starts the name of the folder, inside the receiving folder,
// where a held transfer's sealed streams wait to be opened: no offer may
// name it (transfer refuses ".muxfer-" names).
const heldPrefix = ".muxfer-held-"

// heldOffer is a held transfer that waits for this client, opened.
type heldOffer struct {
	hold  protocol.Hold
	id    seal.ID
	key   *seal.Key
	man   seal.Manifest
	stage string // the folder of its sealed streams
}

// offer is the held transfer as an offer of its files.
func (h *heldOffer) offer() protocol.Offer {
	o := protocol.Offer{Transfer: "held-" + h.hold.ID, From: h.man.From, FromIdentity: h.man.FromIdentity}
	for _, f := range h.man.Files {
		o.Files = append(o.Files, protocol.File{Path: f.Path, Dir: f.Dir, Size: f.Size, Mode: f.Mode, MTime: f.MTime})
	}
	return o
}

// errHeldInvalid is wrapped by openHeld's error when the held transfer
// itself is wrong (not sealed for this identity, a manifest the sender
// did not sign, or one that does not match the transfer): it is
// declined. Any other error (a busy hub, a lost connection, a full disk)
// leaves it waiting on the hub.
var errHeldInvalid = errors.New("held transfer refused")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errHeldInvalid, fmt.Sprintf(format, args...))
}

// openHeld gets the key and manifest of held transfer h into its folder
// under dir and opens them as me: the key must open, the manifest must be
// signed by the sender the hub names (its identity and its name), list
// me, and offer what an offer may. The heldOffer it returns, even with an
// error, names the folder to remove.
func (c *Client) openHeld(ctx context.Context, h protocol.Hold, dir string, me ed25519.PrivateKey) (*heldOffer, error) {
	raw, err := hex.DecodeString(h.ID)
	if err != nil || len(raw) != len(seal.ID{}) || h.ID != strings.ToLower(h.ID) {
		return &heldOffer{}, invalid("not a held transfer's id") // no folder made: nothing to remove
	}
	ho := &heldOffer{hold: h, stage: filepath.Join(dir, heldPrefix+h.ID)}
	copy(ho.id[:], raw)
	sizes := GetOptions{Hold: h.ID, Check: func(files []File) error {
		for _, f := range files {
			if (f.Path == "key" && f.Size > seal.MaxWrapped) || (f.Path == "manifest" && f.Size > seal.SealedSize(seal.MaxManifest)) {
				return invalid("the hub offers a %s of %d bytes", f.Path, f.Size)
			}
		}
		return nil
	}}
	rep, err := c.Get(ctx, ho.stage, []string{"key", "manifest"}, sizes)
	if err != nil {
		return ho, err
	}
	stored := map[string]string{}
	for _, f := range rep.Files {
		if !f.OK() {
			return ho, fmt.Errorf("%s: %s", f.Path, f.Err)
		}
		stored[f.Path] = filepath.Join(ho.stage, filepath.FromSlash(f.Stored))
	}
	wrapped, err := readBounded(stored["key"], seal.MaxWrapped)
	if err != nil {
		return ho, err
	}
	if ho.key, err = seal.Unwrap(wrapped, me); err != nil {
		return ho, invalid("%v", err)
	}
	mf, err := os.Open(stored["manifest"])
	if err != nil {
		return ho, err
	}
	defer mf.Close()
	r, err := seal.NewReader(ho.key, ho.id, seal.ManifestStream, mf)
	if err != nil {
		return ho, err
	}
	b, err := io.ReadAll(io.LimitReader(r, seal.MaxManifest+1))
	switch {
	case errors.Is(err, seal.ErrOpen):
		return ho, invalid("the manifest: %v", err)
	case err != nil:
		return ho, err
	case len(b) > seal.MaxManifest:
		return ho, invalid("the manifest is too large")
	}
	if ho.man, err = seal.Verify(b, ho.id); err != nil {
		return ho, invalid("%v", err)
	}
	mine := hex.EncodeToString(me.Public().(ed25519.PublicKey))
	listed := false
	for _, p := range ho.man.To {
		listed = listed || p.Identity == mine
	}
	streams := map[uint32]bool{}
	for _, f := range ho.man.Files {
		if f.Dir {
			continue
		}
		if int(f.Stream) >= h.Streams || streams[f.Stream] || f.Size < 0 {
			return ho, invalid("the manifest names streams the transfer does not have")
		}
		streams[f.Stream] = true
	}
	switch {
	case ho.man.FromIdentity != h.FromIdentity:
		return ho, invalid("the manifest is signed by another identity than the sender's")
	case !strings.EqualFold(ho.man.From, h.From):
		return ho, invalid("the manifest names another sender (%q) than the hub (%q)", ho.man.From, h.From)
	case !listed:
		return ho, invalid("the manifest does not name this identity among its recipients")
	case len(streams) != h.Streams:
		return ho, invalid("the manifest and the transfer's streams do not agree")
	}
	if err := transfer.CheckOffer(ho.offer()); err != nil {
		return ho, invalid("%v", err)
	}
	return ho, nil
}

// readBounded reads the file at name, of at most limit bytes.
func readBounded(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s is too large", filepath.Base(name))
	}
	return b, err
}

// receiveHeld gets the sealed streams of ho and opens each into dir as
// a received file, telling done of each. It returns the offer's outcome
// file by file, in done; the error is for a Get that could not go on.
func (c *Client) receiveHeld(ctx context.Context, ho *heldOffer, dir string, opt GetOptions, done func(idx int, r FileReport)) error {
	var names []string
	want := map[string]int64{} // each stream's sealed size
	for _, f := range ho.man.Files {
		if !f.Dir {
			name := strconv.FormatUint(uint64(f.Stream), 10)
			names = append(names, name)
			want[name] = seal.SealedSize(f.Size)
		}
	}
	opt.Check = func(files []File) error {
		for _, f := range files {
			if size, ok := want[f.Path]; !ok || f.Size != size {
				return invalid("the hub offers stream %q of %d bytes, not one the sender sealed", f.Path, f.Size)
			}
		}
		return nil
	}
	sealedAt := map[string]string{}
	for len(names) > 0 { // a get names at most MaxGetPaths
		batch := names[:min(len(names), protocol.MaxGetPaths)]
		names = names[len(batch):]
		rep, err := c.Get(ctx, ho.stage, batch, opt)
		if err != nil {
			return err
		}
		for _, f := range rep.Files {
			if !f.OK() {
				return fmt.Errorf("stream %s: %s", f.Path, f.Err)
			}
			sealedAt[f.Path] = filepath.Join(ho.stage, filepath.FromSlash(f.Stored))
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	recv := transfer.NewReceiver(root)
	o := ho.offer()
	in, err := recv.Prepare(o)
	if err != nil {
		return err
	}
	defer in.Abandon()
	for i, f := range ho.man.Files {
		if f.Dir {
			continue
		}
		res, err := openHeldFile(in, ho, i, f, sealedAt[strconv.FormatUint(uint64(f.Stream), 10)])
		r := FileReport{Path: f.Path, Size: f.Size, Status: Delivered, Stored: res.Stored, Hash: "sha256:" + f.SHA256}
		switch {
		case err != nil:
			r.Status, r.Err, r.Stored, r.Hash = Failed, err.Error(), "", ""
		case res.Error != "":
			r.Status, r.Err, r.Stored, r.Hash = Failed, res.Error, "", ""
		}
		done(i, r)
	}
	return nil
}

// openHeldFile opens the sealed stream at name into file idx of in,
// checking its SHA-256 against the manifest's before it gets its name.
func openHeldFile(in *transfer.Incoming, ho *heldOffer, idx int, f seal.File, name string) (protocol.Result, error) {
	src, err := os.Open(name)
	if err != nil {
		return protocol.Result{}, err
	}
	defer src.Close()
	r, err := seal.NewReader(ho.key, ho.id, f.Stream, src)
	if err != nil {
		return protocol.Result{}, err
	}
	var h hash.Hash = sha256.New()
	check := func() error {
		if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
			return fmt.Errorf("SHA-256 %s, the sender signed %s", got, f.SHA256)
		}
		return nil
	}
	stream := transfer.LocalStream(io.TeeReader(r, h), f.Size, check)
	return in.Receive(protocol.DataHeader{Transfer: in.Transfer(), File: idx}, stream)
}
