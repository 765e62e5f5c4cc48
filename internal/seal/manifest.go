package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// Manifest says what a held transfer holds and who sends it to whom. It
// travels signed by From's identity and sealed (ManifestStream).
type Manifest struct {
	Version      int      `json:"v"`  // 1
	ID           string   `json:"id"` // the transfer's id, in hex
	From         string   `json:"from"`
	FromIdentity string   `json:"from_identity"` // the sender's Ed25519 key, hex
	To           []Person `json:"to"`
	Created      int64    `json:"created"` // Unix seconds
	Files        []File   `json:"files"`
}

// Person is a recipient: the name the sender gave, and the identity the
// files are sealed to.
type Person struct {
	Name     string `json:"name"`
	Identity string `json:"identity"` // Ed25519 key, hex
}

// File is an entry of a Manifest: a folder, or a regular file whose bytes
// are stream Stream, with their SHA-256.
type File struct {
	Path   string `json:"path"`
	Dir    bool   `json:"dir,omitempty"`
	Size   int64  `json:"size"`
	Mode   uint32 `json:"mode"`
	MTime  int64  `json:"mtime"`
	Stream uint32 `json:"stream,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// signed is a manifest and the sender's signature over signingContext
// and its bytes.
type signed struct {
	Manifest  json.RawMessage `json:"manifest"`
	Signature string          `json:"signature"`
}

const signingContext = version + " manifest\x00"

// MaxManifest bounds a signed manifest, plain, as a recipient reads it:
// about 100,000 entries of short names.
const MaxManifest = 16 << 20

// Sign returns m signed with priv, which must be m.FromIdentity's.
func Sign(m Manifest, priv ed25519.PrivateKey) ([]byte, error) {
	if hex.EncodeToString(priv.Public().(ed25519.PublicKey)) != m.FromIdentity {
		return nil, errors.New("the manifest names another sender than the key that signs it")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(priv, append([]byte(signingContext), b...))
	return json.Marshal(signed{Manifest: b, Signature: hex.EncodeToString(sig)})
}

// Verify checks b, a signed manifest, against the identity it names as
// its sender and against id, and returns the manifest.
func Verify(b []byte, id ID) (Manifest, error) {
	var s signed
	var m Manifest
	if err := json.Unmarshal(b, &s); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	if err := json.Unmarshal(s.Manifest, &m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	pub, err := hex.DecodeString(m.FromIdentity)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return m, errors.New("manifest: no sender's identity")
	}
	sig, err := hex.DecodeString(s.Signature)
	if err != nil || !ed25519.Verify(pub, append([]byte(signingContext), s.Manifest...), sig) {
		return m, errors.New("manifest: the signature is not the sender's")
	}
	switch {
	case m.Version != 1:
		return m, fmt.Errorf("manifest: version %d, this muxfer reads 1", m.Version)
	case m.ID != hex.EncodeToString(id[:]):
		return m, errors.New("manifest: it belongs to another held transfer")
	}
	return m, nil
}

// NewTransfer returns a new random id and key.
func NewTransfer() (ID, *Key) {
	var id ID
	k := new(Key)
	rand.Read(id[:])
	rand.Read(k[:])
	return id, k
}

// wrapped is what age seals for the recipients: the transfer's key.
const wrappedLen = len(Key{})

// Wrap seals key to each of the identities to (Ed25519 public keys), as
// an age file.
func Wrap(key *Key, to []ed25519.PublicKey) ([]byte, error) {
	rs := make([]age.Recipient, 0, len(to))
	for _, pub := range to {
		sp, err := ssh.NewPublicKey(pub)
		if err != nil {
			return nil, err
		}
		r, err := agessh.NewEd25519Recipient(sp)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	var b bytes.Buffer
	w, err := age.Encrypt(&b, rs...)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(key[:]); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MaxWrapped bounds an age file Unwrap reads: a stanza per recipient.
const MaxWrapped = 64 << 10

// Unwrap opens an age file from Wrap with the identity me.
func Unwrap(b []byte, me ed25519.PrivateKey) (*Key, error) {
	if len(b) > MaxWrapped {
		return nil, errors.New("the wrapped key is too large")
	}
	id, err := agessh.NewEd25519Identity(me)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(b), id)
	if err != nil {
		return nil, fmt.Errorf("the files are not sealed for this identity: %w", err)
	}
	k := new(Key)
	n, err := io.ReadFull(r, k[:])
	if err != nil || n != wrappedLen {
		return nil, errors.New("the wrapped key is not a key")
	}
	if extra, _ := r.Read(make([]byte, 1)); extra != 0 {
		return nil, errors.New("the wrapped key is not a key")
	}
	return k, nil
}
