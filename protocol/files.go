package protocol

import (
	"encoding/json"
	"fmt"
)

// Files on the hub: a client lists what the hub lets it read (List,
// answered by Listing) and downloads it (Get, answered by offers from the
// hub and Got). See the README, "Files on the hub".

// List asks the hub what this client may read under Path ("" for the
// top): the entries directly in that folder, or with Recursive every
// file and folder under it. ID, chosen by the client, names the answers.
type List struct {
	ID        string `json:"id"`
	Path      string `json:"path,omitempty"`
	Recursive bool   `json:"recursive,omitempty"`
}

// Listing is one part of the answer to a List: at most MaxListingEntries
// entries, with More set on every part but the last. Error (with Code,
// one of the Error codes: CodeNotFound, CodeDenied, CodeLimit, CodeBusy)
// says why the hub answers nothing, or why it stopped early (Truncated:
// the folder holds more than the hub lists at once).
type Listing struct {
	ID        string  `json:"id"`
	Entries   []Entry `json:"entries"`
	More      bool    `json:"more,omitempty"`
	Truncated bool    `json:"truncated,omitempty"`
	Error     string  `json:"error,omitempty"`
	Code      string  `json:"code,omitempty"`
}

// Entry is a file or folder on the hub. Path is relative to the hub's
// folder, with "/" separators; Mode holds permission bits; MTime is in
// nanoseconds since the Unix epoch. By and ByIdentity name who uploaded
// the file (its name then, and the identity it proved, in hex), and At
// when (Unix seconds), where the hub recorded it; Hash is the hash the
// hub verified it with ("xxh3-128:…"). A folder has no size, and Files
// counts the files a recursive listing found in it.
type Entry struct {
	Path       string `json:"path"`
	Dir        bool   `json:"dir,omitempty"`
	Size       int64  `json:"size"`
	Mode       uint32 `json:"mode"`
	MTime      int64  `json:"mtime"`
	By         string `json:"by,omitempty"`
	ByIdentity string `json:"by_identity,omitempty"`
	At         int64  `json:"at,omitempty"`
	Hash       string `json:"hash,omitempty"`
}

// MaxListingEntries bounds the entries of one Listing, so that it fits a
// control frame: an entry takes at most about 700 bytes.
const MaxListingEntries = 1000

// MaxGetPaths bounds the paths of one Get.
const MaxGetPaths = 1000

// Get asks the hub for files and folders, named as List names them, to be
// sent to this client: the hub answers with offers whose Get is ID (as
// for an upload, with the hub as the sender and this client as the
// receiver), and last with Got. Parallel is how many files the hub sends
// at once (default 4, at most MaxDataStreams).
//
// With Hold, the paths name the streams of that held transfer ("key",
// "manifest", "0"…), which the client must be a recipient of.
type Get struct {
	ID       string   `json:"id"`
	Hold     string   `json:"hold,omitempty"`
	Paths    []string `json:"paths"`
	Parallel int      `json:"parallel,omitempty"`
}

// Got ends a Get: the hub has sent what it found and the client has
// answered for every file. Files and Bytes count the files the hub
// offered, Failed those it could not send (a file that vanished or
// changed). Error and Code, when set, say why the hub sent nothing or
// stopped (CodeNotFound, CodeDenied, CodeBusy, CodeLimit, CodeShutdown).
type Got struct {
	ID     string `json:"id"`
	Files  int    `json:"files"`
	Bytes  int64  `json:"bytes"`
	Failed int    `json:"failed,omitempty"`
	Error  string `json:"error,omitempty"`
	Code   string `json:"code,omitempty"`
}

// Error codes of Listing and Got.
const (
	CodeNotFound = "not_found" // no such file or folder, or none this client may read
	CodeDenied   = "denied"    // the hub lets nobody, or not this client, read its files
)

func (List) Type() string    { return "list" }
func (Listing) Type() string { return "listing" }
func (Get) Type() string     { return "get" }
func (Got) Type() string     { return "got" }

// errTooMany reports a list longer than its bound: a limit exceeded, as
// ErrTooManyFiles is for an offer.
func errTooMany(what string, limit int) error {
	return fmt.Errorf("%w: more than %d %s", ErrTooManyFiles, limit, what)
}

// decodeListing decodes a Listing whose entries are counted first, as an
// offer's are (boundedList), against MaxListingEntries.
func decodeListing(b []byte) (Message, error) {
	var w struct {
		Listing
		Entries json.RawMessage `json:"entries"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	l := w.Listing
	if err := decodeBounded(w.Entries, &l.Entries, MaxListingEntries, "listing entries"); err != nil {
		return nil, err
	}
	return l, nil
}

// decodeGet decodes a Get, counting its paths first against MaxGetPaths.
func decodeGet(b []byte) (Message, error) {
	var w struct {
		Get
		Paths json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	g := w.Get
	if err := decodeBounded(w.Paths, &g.Paths, MaxGetPaths, "paths"); err != nil {
		return nil, err
	}
	return g, nil
}
