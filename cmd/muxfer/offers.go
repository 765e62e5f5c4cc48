package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
	"github.com/spf13/pflag"
)

// listedEntries is how many entries of an offer are printed with it; the
// rest are counted, and /offers N lists them all.
const listedEntries = 20

// inbox follows the offers other clients make to this one: it numbers
// those waiting for an answer, so that a person can type "/accept 2", and
// follows each accepted one to its end, for its progress line and its
// summary. Its methods are called from the client's goroutines and from
// the command's, so everything is under mu.
type inbox struct {
	u    *ui
	dir  string             // where accepted files go, as given
	keep time.Duration      // --keep-partial: client.Config.KeepParts
	hint func(n int) string // how to answer offer n

	mu      sync.Mutex
	next    int                       // the number of the next offer
	waiting []numberedOffer           // oldest first
	running map[string]*incomingFiles // accepted, by transfer id
	failed  int                       // files of accepted offers that failed
}

type numberedOffer struct {
	n int
	o protocol.Offer
}

// incomingFiles is an accepted offer on its way in.
type incomingFiles struct {
	n        int
	from     string
	files    []protocol.File
	begun    map[int]bool // the files bytes came for; each is named once on the line
	left     int          // regular files without an outcome
	ok, bad  int
	bytes    int64 // of the files stored
	progress *download
	start    time.Time
}

func newInbox(u *ui, dir string) *inbox {
	return &inbox{u: u, dir: dir, next: 1, running: map[string]*incomingFiles{},
		hint: func(n int) string { return fmt.Sprintf("/accept %d or /decline %d", n, n) }}
}

// config sets the hooks of a client that receives into the inbox; decide
// is OnOffer's answer to each offer (client.Ask to ask a person).
func (b *inbox) config(cfg client.Config, decide func(protocol.Offer) client.Decision) client.Config {
	cfg.Inbox = b.dir
	cfg.KeepParts = b.keep
	cfg.OnOffer = func(o protocol.Offer) client.Decision {
		d := decide(o)
		n := b.offered(o, d)
		if d == client.Accept {
			b.started(n, o)
		}
		return d
	}
	cfg.OnWithdrawn = b.withdrawn
	cfg.OnProgress = b.progress
	cfg.OnReceived = b.received
	return cfg
}

// offerNote is the JSON form of an offer made to this client.
type offerNote struct {
	Type     string          `json:"type"`  // "offer"
	Offer    int             `json:"offer"` // the number /accept and /decline take
	Transfer string          `json:"transfer"`
	From     string          `json:"from"`
	Files    int             `json:"files"`
	Folders  int             `json:"folders"`
	Bytes    int64           `json:"bytes"`
	Waiting  bool            `json:"waiting"` // false: accepted at once (recv --yes)
	List     []protocol.File `json:"list"`
}

// offered numbers o and prints it, with the answer it waits for.
func (b *inbox) offered(o protocol.Offer, decide client.Decision) int {
	b.mu.Lock()
	n := b.next
	b.next++
	if decide == client.Ask {
		b.waiting = append(b.waiting, numberedOffer{n, o})
	}
	b.mu.Unlock()
	ev := offerNote{Type: "offer", Offer: n, Transfer: o.Transfer, From: o.From, Waiting: decide == client.Ask, List: o.Files}
	ev.Files, ev.Folders, ev.Bytes = tally(o.Files)
	head := fmt.Sprintf("* %s offers %s (%s)", o.From, contents(ev.Files, ev.Folders), size(ev.Bytes))
	switch decide {
	case client.Ask:
		head += ": " + b.hint(n)
	case client.Accept:
		head += ": accepted, into " + b.dir
	default:
		head += ": declined"
	}
	lines := []string{head}
	for _, line := range entryLines(o.Files, listedEntries) {
		lines = append(lines, "    "+line)
	}
	if len(o.Files) > listedEntries && decide == client.Ask {
		lines = append(lines, fmt.Sprintf("    (/offers %d lists them all)", n))
	}
	b.u.event(ev, lines...)
	return n
}

// tally counts an offer's regular files and folders, and the files' bytes.
func tally(entries []protocol.File) (files, folders int, bytes int64) {
	for _, f := range entries {
		if f.Dir {
			folders++
		} else {
			files++
			bytes += f.Size
		}
	}
	return files, folders, bytes
}

// contents says "3 files and 1 folder".
func contents(files, folders int) string {
	if folders == 0 {
		return plural(files, "file")
	}
	if files == 0 {
		return plural(folders, "folder")
	}
	return plural(files, "file") + " and " + plural(folders, "folder")
}

// entryLines describes up to max entries of an offer, one line each, and
// counts the rest on one more line.
func entryLines(files []protocol.File, max int) []string {
	var out []string
	for i, f := range files {
		if i == max {
			out = append(out, fmt.Sprintf("… and %d more", len(files)-max))
			break
		}
		if f.Dir {
			out = append(out, f.Path+"/")
		} else {
			out = append(out, fmt.Sprintf("%s  %s", f.Path, size(f.Size)))
		}
	}
	return out
}

// pick returns the waiting offer that arg names ("" when only one waits).
func (b *inbox) pick(arg string) (numberedOffer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	arg = strings.TrimSpace(arg)
	if arg == "" {
		switch len(b.waiting) {
		case 0:
			return numberedOffer{}, errors.New("no offer is waiting for an answer")
		case 1:
			return b.waiting[0], nil
		}
		return numberedOffer{}, fmt.Errorf("%d offers are waiting: say which (/offers lists them)", len(b.waiting))
	}
	n, err := strconv.Atoi(strings.TrimPrefix(arg, "#"))
	if err != nil {
		return numberedOffer{}, fmt.Errorf("%q is not an offer's number", arg)
	}
	for _, w := range b.waiting {
		if w.n == n {
			return w, nil
		}
	}
	return numberedOffer{}, fmt.Errorf("offer %d is not waiting for an answer", n)
}

// offerArgs splits the argument of /accept or /decline into an offer's
// number (or "") and the words after it.
func offerArgs(arg string) (num, rest string) {
	arg = strings.TrimSpace(arg)
	first, after, _ := strings.Cut(arg, " ")
	if _, err := strconv.Atoi(strings.TrimPrefix(first, "#")); err == nil {
		return first, strings.TrimSpace(after)
	}
	return "", arg
}

// take removes the waiting offer with transfer id id and returns it.
func (b *inbox) take(id string) (numberedOffer, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, w := range b.waiting {
		if w.o.Transfer == id {
			b.waiting = slices.Delete(b.waiting, i, i+1)
			return w, true
		}
	}
	return numberedOffer{}, false
}

// answer accepts or declines the waiting offer that arg names, on c. A
// decline may give a reason after the number ("2 no room"), or alone
// when only one offer waits; the sender sees it.
func (b *inbox) answer(c *client.Client, arg string, accept bool) {
	num, reason := offerArgs(arg)
	if accept && reason != "" {
		err := errors.New("usage: /accept [N]")
		b.u.problem(err)
		return
	}
	w, err := b.pick(num)
	if err != nil {
		b.u.problem(err)
		return
	}
	if accept {
		b.started(w.n, w.o) // before the first byte can arrive
	}
	if accept || reason == "" {
		err = c.Answer(w.o.Transfer, accept)
	} else {
		err = c.Decline(w.o.Transfer, reason)
	}
	b.take(w.o.Transfer)
	if err != nil {
		if accept {
			b.ended(w.o.Transfer, false)
		}
		if errors.Is(err, client.ErrNoOffer) || errors.Is(err, mux.ErrClosed) {
			err = fmt.Errorf("offer %d is no longer waiting (withdrawn, or the connection was replaced)", w.n)
		} else {
			err = fmt.Errorf("offer %d: %w", w.n, err)
		}
		b.u.problem(err)
		return
	}
	verb, text := "declined", fmt.Sprintf("* declined offer %d from %s", w.n, w.o.From)
	if accept {
		verb, text = "accepted", fmt.Sprintf("* accepted offer %d from %s, into %s", w.n, w.o.From, b.dir)
	}
	b.u.event(map[string]any{"type": verb, "offer": w.n, "transfer": w.o.Transfer, "from": w.o.From}, text)
}

// list prints the waiting offers, or every entry of the one arg names.
func (b *inbox) list(arg string) {
	if strings.TrimSpace(arg) != "" {
		w, err := b.pick(arg)
		if err != nil {
			b.u.problem(err)
			return
		}
		lines := []string{fmt.Sprintf("* offer %d from %s:", w.n, w.o.From)}
		for _, line := range entryLines(w.o.Files, len(w.o.Files)) {
			lines = append(lines, "    "+line)
		}
		b.u.event(map[string]any{"type": "offer_list", "offer": w.n, "from": w.o.From, "list": w.o.Files}, lines...)
		return
	}
	b.mu.Lock()
	waiting := slices.Clone(b.waiting)
	b.mu.Unlock()
	if len(waiting) == 0 {
		b.u.event(map[string]any{"type": "offers", "offers": []int{}}, "* no offer is waiting for an answer")
		return
	}
	nums := make([]int, len(waiting))
	lines := make([]string, len(waiting))
	for i, w := range waiting {
		files, folders, bytes := tally(w.o.Files)
		nums[i] = w.n
		lines[i] = fmt.Sprintf("%d: %s from %s (%s)", w.n, contents(files, folders), w.o.From, size(bytes))
	}
	b.u.event(map[string]any{"type": "offers", "offers": nums}, "* waiting: "+strings.Join(lines, "; "))
}

// forget drops the offers of a connection that was replaced: the hub
// withdrew those waiting when it ended, and the transfers that were
// arriving stopped with it (their files not yet begun were abandoned
// without an outcome, so their lines would never end). A sender that
// reconnects or waits (muxfer send does) offers the rest again, and what
// arrived resumes.
func (b *inbox) forget() {
	b.mu.Lock()
	gone, cut := b.waiting, b.running
	b.waiting, b.running = nil, map[string]*incomingFiles{}
	b.mu.Unlock()
	for _, w := range gone {
		b.u.event(map[string]any{"type": "withdrawn", "offer": w.n, "from": w.o.From, "reason": "connection lost"},
			fmt.Sprintf("* offer %d from %s is gone with the connection; ask %s to send it again", w.n, w.o.From, w.o.From))
	}
	for _, in := range cut {
		in.progress.done()
		b.u.event(map[string]any{"type": "offer_cut", "offer": in.n, "from": in.from, "files": in.ok, "failed": in.bad, "left": in.left},
			fmt.Sprintf("* offer %d from %s cut by the lost connection after %d of %d files; what arrived resumes when it is sent again",
				in.n, in.from, in.ok, in.ok+in.bad+in.left))
	}
}

// withdrawn is OnWithdrawn: the sender or the hub took a waiting offer back.
func (b *inbox) withdrawn(o protocol.Offer, reason string) {
	w, ok := b.take(o.Transfer)
	if !ok {
		return
	}
	b.u.event(map[string]any{"type": "withdrawn", "offer": w.n, "from": o.From, "reason": reason},
		fmt.Sprintf("* offer %d from %s withdrawn: %s", w.n, o.From, reason))
}

// started follows an accepted offer.
func (b *inbox) started(n int, o protocol.Offer) {
	in := &incomingFiles{n: n, from: o.From, files: o.Files, begun: map[int]bool{}, start: time.Now()}
	var bytes int64
	in.left, _, bytes = tally(o.Files)
	if in.left == 0 {
		return // folders only: made when accepted
	}
	in.progress = b.u.download("← "+o.From, in.left, bytes)
	b.mu.Lock()
	b.running[o.Transfer] = in
	b.mu.Unlock()
}

// progress is OnProgress: it counts the bytes, and names a file on the
// transfer's line when its first bytes come (files on parallel streams
// arrive interleaved: each counts once).
func (b *inbox) progress(id string, file, n int) {
	b.mu.Lock()
	in := b.running[id]
	opened := ""
	if in != nil && !in.begun[file] && file >= 0 && file < len(in.files) {
		in.begun[file], opened = true, in.files[file].Path
	}
	b.mu.Unlock()
	if in == nil {
		return
	}
	if opened != "" {
		in.progress.opened(opened)
	}
	in.progress.wrote(n)
}

// receivedNote is the JSON form of a file received, or failed.
type receivedNote struct {
	Type  string `json:"type"` // "received"
	Offer int    `json:"offer"`
	From  string `json:"from"`
	protocol.Result
}

// received is OnReceived: it prints the file's outcome, and the
// transfer's summary after its last file.
func (b *inbox) received(res protocol.Result) {
	b.mu.Lock()
	in := b.running[res.Transfer]
	if in == nil {
		b.mu.Unlock()
		return
	}
	in.left--
	if res.Error == "" {
		in.ok++
		if res.File >= 0 && res.File < len(in.files) {
			in.bytes += in.files[res.File].Size
		}
	} else {
		in.bad++
		b.failed++
	}
	b.mu.Unlock()
	text := fmt.Sprintf("received %s from %s %.23s…", res.Stored, in.from, res.Hash)
	if res.Error != "" {
		text = fmt.Sprintf("FAILED from %s: %s", in.from, res.Error)
	}
	b.u.event(receivedNote{Type: "received", Offer: in.n, From: in.from, Result: res}, text)
	b.ended(res.Transfer, true)
}

// ended finishes the transfer id once it has no file left (or at once,
// if !whenDone), printing its summary.
func (b *inbox) ended(id string, whenDone bool) {
	b.mu.Lock()
	in := b.running[id]
	if in == nil || whenDone && in.left > 0 {
		b.mu.Unlock()
		return
	}
	delete(b.running, id)
	b.mu.Unlock()
	in.progress.done()
	if !whenDone {
		return
	}
	took := time.Since(in.start)
	text := fmt.Sprintf("* offer %d from %s: received %d of %d files (%s) in %s", in.n, in.from, in.ok, in.ok+in.bad,
		size(in.bytes), took.Round(time.Millisecond))
	if in.bad > 0 {
		text += fmt.Sprintf(", %d failed", in.bad)
	}
	b.u.event(map[string]any{"type": "offer_done", "offer": in.n, "from": in.from, "files": in.ok, "failed": in.bad,
		"bytes": in.bytes, "seconds": took.Seconds()}, text)
}

// failures counts the files of accepted offers that failed.
func (b *inbox) failures() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failed
}

// wait says that a send waits on its connection before offering files
// again: the hub is busy with an earlier transfer of them, or the
// recipient left and may come back.
func (u *ui) wait(err error, files int, d time.Duration) {
	u.event(map[string]any{"type": "wait", "reason": err.Error(), "files_left": files, "wait_seconds": d.Seconds()},
		fmt.Sprintf("* %s; offering %s again in %s", err.Error(), plural(files, "file"), d.Round(10*time.Millisecond)))
}

// ask is OnOffer's decision in chat, and in recv without --yes: a person
// answers each offer.
func ask(protocol.Offer) client.Decision { return client.Ask }

// dialConfig connects to the hub at addr with cfg (its Software and
// OnMessage filled in here) and says so.
func dialConfig(ctx context.Context, addr string, cfg client.Config, u *ui) (*client.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cfg.Software, cfg.OnMessage = software(), u.message
	addr = mux.HubAddr(addr) // as client.Dial takes it, for the line below
	c, err := client.Dial(dctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	u.event(map[string]any{"type": "welcome", "name": c.Name(), "id": c.ID(), "addr": addr},
		fmt.Sprintf("* connected to %s as %s", addr, c.Name()))
	return c, nil
}

// keepPartialFlag defines --keep-partial for a command that receives into
// --dir, as serve's for its folder.
func keepPartialFlag(fs *pflag.FlagSet) *time.Duration {
	return fs.Duration("keep-partial", transfer.DefaultKeepParts,
		"how long the part of a file cut on its way into --dir is kept for its sender to resume; older parts there are removed on connecting (negative: never)")
}
