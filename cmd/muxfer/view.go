package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/protocol"
	"github.com/spf13/cobra"
)

// listedEntries is how many entries of an offer are printed with it; the
// rest are counted, and /offers N lists them all.
const listedEntries = 20

// view draws a session's events: every command that connects reads
// them in one loop and hands each to show, in order, from one goroutine.
type view struct {
	u    *ui
	tag  string             // put before each text line (the demo names its client)
	dir  string             // where accepted files go, as given
	hint func(n int) string // how to answer offer n

	offers    map[int]client.Offer         // by number, until they end
	downloads map[int]*progressLine        // accepted offers' progress lines
	sends     map[int]*progressLine        // running sends' progress, by number
	failed    int                          // files that failed, both ways, and sends that failed
	onSent    func(client.SendDone, error) // after a send's summary, with its error
	gets      map[int]*progressLine        // running gets' progress, by number (files.go)
	onGot     func(client.GetDone, error)  // after a get's summary, with its error
	dmKeys    map[string]string            // the key shown for each name that sent a direct message
}

func newView(u *ui, dir string) *view {
	return &view{u: u, dir: dir, offers: map[int]client.Offer{}, downloads: map[int]*progressLine{}, sends: map[int]*progressLine{}, gets: map[int]*progressLine{}, dmKeys: map[string]string{},
		hint: func(n int) string { return fmt.Sprintf("/accept %d or /decline %d", n, n) }}
}

// event prints an event as u.event does, with v's tag before each line.
func (v *view) event(j any, lines ...string) {
	if v.tag != "" {
		for i := range lines {
			lines[i] = v.tag + lines[i]
		}
	}
	v.u.event(j, lines...)
}

// show draws ev.
func (v *view) show(ev client.Event) {
	if v.showGet(ev) {
		return
	}
	switch ev := ev.(type) {
	case client.Connected:
		v.event(map[string]any{"type": "welcome", "name": ev.Name, "id": ev.ID, "addr": ev.Addr},
			fmt.Sprintf("* connected to %s as %s", ev.Addr, ev.Name))
		if ev.Again && ev.Wanted != "" {
			v.event(map[string]string{"type": "nick", "name": ev.Name, "wanted": ev.Wanted},
				fmt.Sprintf("* %s was taken; you are now %s", ev.Wanted, ev.Name))
		}
	case client.Disconnected:
		if ev.Reconnecting {
			v.event(map[string]string{"type": "disconnected", "reason": ev.Err.Error()},
				fmt.Sprintf("* connection lost (%s); reconnecting", ev.Err.Error()))
		}
	case client.Retrying:
		v.event(map[string]any{"type": "retry", "attempt": ev.Attempt, "error": ev.Err.Error(), "wait_seconds": ev.Wait.Seconds()},
			fmt.Sprintf("* attempt %d failed (%s); next in %s", ev.Attempt, ev.Err.Error(), ev.Wait.Round(10*time.Millisecond)))
	case client.Message:
		if ev.To != "" && ev.FromIdentity != "" && v.dmKeys[ev.From] != ev.FromIdentity && !v.u.json {
			// The first direct message from a name shows whose key sent it
			// (--json carries it in every message, as from_identity).
			v.dmKeys[ev.From] = ev.FromIdentity
			v.u.line("%s* %s's key: %s", v.tag, ev.From, client.PeerFingerprint(ev.FromIdentity))
		}
		v.u.heard(v.tag, protocol.Chat{From: ev.From, FromID: ev.FromID, FromIdentity: ev.FromIdentity, To: ev.To, Text: ev.Text})
	case client.Presence:
		v.u.heard(v.tag, protocol.Presence{Event: ev.Kind, Client: ev.Peer, OldName: ev.OldName})
	case client.Notice:
		v.u.heard(v.tag, protocol.Notice{Code: ev.Code, Text: ev.Text})
	case client.KeyChanged:
		v.keyChanged(ev)
	case client.Offered:
		v.offered(ev.Offer)
	case client.Withdrawn:
		v.withdrawn(ev.Offer, ev.Reason)
	case client.FileStarted:
		if s := v.sends[ev.Send]; s != nil {
			s.opened(ev.Path)
		} else if d := v.download(ev.Offer); d != nil {
			d.opened(ev.Path)
		}
	case client.Progress:
		if s := v.sends[ev.Send]; s != nil {
			s.wrote(ev.Bytes, ev.Held)
		} else if d := v.download(ev.Offer); d != nil {
			d.wrote(ev.Bytes, 0)
		}
	case client.FileDone:
		if ev.Send != 0 {
			v.u.file(v.tag, ev.To, ev.Report)
		} else {
			v.received(ev)
		}
	case client.OfferDone:
		v.offerDone(ev)
	case client.SendStarted:
		s := v.sends[ev.Send]
		if s == nil {
			s = v.u.upload(ev.To)
			v.sends[ev.Send] = s
		}
		s.started(ev.Files, ev.Bytes)
	case client.SendWaiting:
		// The hub is busy with an earlier transfer of the files, or the
		// recipient left and may come back.
		v.event(map[string]any{"type": "wait", "reason": ev.Err.Error(), "files_left": ev.Files, "wait_seconds": ev.Wait.Seconds()},
			fmt.Sprintf("* %s; offering %s again in %s", ev.Err.Error(), plural(ev.Files, "file"), ev.Wait.Round(10*time.Millisecond)))
	case client.SendDone:
		if s := v.sends[ev.Send]; s != nil {
			s.end()
		}
		delete(v.sends, ev.Send)
		err := v.u.finish(v.tag, ev.To, ev.Report, ev.Err)
		if err != nil {
			v.failed++
		}
		if ev.Held != nil && err == nil {
			v.held(ev)
		}
		var changed *client.KeyChangedError
		if errors.As(ev.Err, &changed) {
			v.event(map[string]string{"type": "hint", "text": forgetHint(changed.Name)}, "! nothing was sent. "+forgetHint(changed.Name))
		}
		if v.onSent != nil {
			v.onSent(ev, err)
		}
	}
}

// keyChanged warns that a name's identity is not the pinned one, and what
// was stopped.
func (v *view) keyChanged(ev client.KeyChanged) {
	e := ev.Err
	now := client.PeerFingerprint(e.Now)
	what := map[string]string{
		client.DirectMessageFrom: fmt.Sprintf("a direct message from %s was not shown", e.Name),
		client.DirectMessageTo:   fmt.Sprintf("your direct message to %s was not delivered", e.Name),
		client.OfferFrom:         fmt.Sprintf("an offer from %s was declined unseen", e.Name),
	}[ev.What]
	v.event(map[string]string{"type": "key_changed", "name": e.Name, "pinned": client.PeerFingerprint(e.Pinned), "now": now, "stopped": ev.What},
		"! "+e.Error(),
		"! "+what+". "+forgetHint(e.Name))
}

// forgetHint says how to trust a name's new key.
func forgetHint(name string) string {
	return fmt.Sprintf("If %s really has a new identity, compare its fingerprint with the one muxfer id prints on their machine, then run: muxfer peers forget %s", name, name)
}

// offerNote is the JSON form of an offer made to this client.
type offerNote struct {
	Type     string          `json:"type"`  // "offer"
	Offer    int             `json:"offer"` // the number /accept and /decline take
	Transfer string          `json:"transfer"`
	From     string          `json:"from"`
	FromKey  string          `json:"from_key,omitempty"` // the sender's fingerprint
	Files    int             `json:"files"`
	Folders  int             `json:"folders"`
	Bytes    int64           `json:"bytes"`
	Waiting  bool            `json:"waiting"`           // false: accepted at once (recv --yes)
	Held     string          `json:"held,omitempty"`    // the held transfer's id, if the hub held it while this client was away
	Expires  int64           `json:"expires,omitempty"` // when the hub deletes it, Unix seconds
	List     []protocol.File `json:"list"`
}

// offered prints an offer, with the answer it waits for.
func (v *view) offered(o client.Offer) {
	v.offers[o.N] = o
	ev := offerNote{Type: "offer", Offer: o.N, Transfer: o.Transfer, From: o.From, FromKey: client.PeerFingerprint(o.FromIdentity),
		Waiting: o.Decision == client.Ask, List: o.Files}
	ev.Files, ev.Folders, ev.Bytes = o.Totals()
	head := fmt.Sprintf("* %s offers %s (%s)", o.From, contents(ev.Files, ev.Folders), size(ev.Bytes))
	if o.Held != nil {
		ev.Held, ev.Expires = o.Held.ID, o.Held.Expires
		head = fmt.Sprintf("* %s left you %s (%s) on the hub, %s, until %s", o.From, contents(ev.Files, ev.Folders), size(ev.Bytes),
			time.Unix(o.Held.Created, 0).Format("Jan 2 15:04"), time.Unix(o.Held.Expires, 0).Format("Jan 2"))
	}
	switch o.Decision {
	case client.Ask:
		head += ": " + v.hint(o.N)
	case client.Accept:
		head += ": accepted, into " + v.dir
	default:
		head += ": declined"
		delete(v.offers, o.N)
	}
	lines := []string{head}
	if ev.FromKey != "" {
		lines = append(lines, fmt.Sprintf("    %s's key: %s", o.From, ev.FromKey))
	}
	for _, line := range entryLines(o.Files, listedEntries) {
		lines = append(lines, "    "+line)
	}
	if len(o.Files) > listedEntries && o.Decision == client.Ask {
		lines = append(lines, fmt.Sprintf("    (/offers %d lists them all)", o.N))
	}
	v.event(ev, lines...)
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

func (v *view) withdrawn(o client.Offer, reason string) {
	delete(v.offers, o.N)
	text := fmt.Sprintf("* offer %d from %s withdrawn: %s", o.N, o.From, reason)
	if reason == "connection lost" {
		text = fmt.Sprintf("* offer %d from %s is gone with the connection; ask %s to send it again", o.N, o.From, o.From)
	}
	v.event(map[string]any{"type": "withdrawn", "offer": o.N, "from": o.From, "reason": reason}, text)
}

// download returns the progress line of accepted offer n, made at its
// first bytes.
func (v *view) download(n int) *progressLine {
	if d := v.downloads[n]; d != nil {
		return d
	}
	o, ok := v.offers[n]
	if !ok {
		return nil
	}
	files, _, bytes := o.Totals()
	d := v.u.download("← "+o.From, files, bytes)
	v.downloads[n] = d
	return d
}

// receivedNote is the JSON form of a file received, or failed.
type receivedNote struct {
	Type  string `json:"type"` // "received"
	Offer int    `json:"offer"`
	From  string `json:"from"`
	protocol.Result
}

func (v *view) received(ev client.FileDone) {
	r := ev.Report
	text := fmt.Sprintf("received %s from %s %.23s…", r.Stored, ev.From, r.Hash)
	if r.Err != "" {
		v.failed++
		text = fmt.Sprintf("FAILED from %s: %s", ev.From, r.Err)
	}
	v.event(receivedNote{Type: "received", Offer: ev.Offer, From: ev.From,
		Result: protocol.Result{Transfer: ev.Transfer, File: ev.File, Stored: r.Stored, Hash: r.Hash, Error: r.Err}}, text)
}

func (v *view) offerDone(ev client.OfferDone) {
	n, from := ev.Offer.N, ev.Offer.From
	if d := v.downloads[n]; d != nil {
		d.end()
	}
	delete(v.downloads, n)
	delete(v.offers, n)
	if ev.Cut {
		v.event(map[string]any{"type": "offer_cut", "offer": n, "from": from, "files": ev.Received, "failed": ev.Failed, "left": ev.Left},
			fmt.Sprintf("* offer %d from %s cut by the lost connection after %d of %d files; what arrived resumes when it is sent again",
				n, from, ev.Received, ev.Received+ev.Failed+ev.Left))
		return
	}
	text := fmt.Sprintf("* offer %d from %s: received %d of %d files (%s) in %s", n, from, ev.Received, ev.Received+ev.Failed,
		size(ev.Bytes), ev.Elapsed.Round(time.Millisecond))
	if ev.Failed > 0 {
		text += fmt.Sprintf(", %d failed", ev.Failed)
	}
	v.event(map[string]any{"type": "offer_done", "offer": n, "from": from, "files": ev.Received, "failed": ev.Failed,
		"bytes": ev.Bytes, "seconds": ev.Elapsed.Seconds()}, text)
}

// pick returns the waiting offer that arg names ("" when only one waits).
func pick(s *client.Session, arg string) (client.Offer, error) {
	waiting := s.Offers()
	arg = strings.TrimSpace(arg)
	if arg == "" {
		switch len(waiting) {
		case 0:
			return client.Offer{}, errors.New("no offer is waiting for an answer")
		case 1:
			return waiting[0], nil
		}
		return client.Offer{}, fmt.Errorf("%d offers are waiting: say which (/offers lists them)", len(waiting))
	}
	n, err := strconv.Atoi(strings.TrimPrefix(arg, "#"))
	if err != nil {
		return client.Offer{}, fmt.Errorf("%q is not an offer's number", arg)
	}
	for _, o := range waiting {
		if o.N == n {
			return o, nil
		}
	}
	return client.Offer{}, fmt.Errorf("offer %d is not waiting for an answer", n)
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

// answer accepts or declines the waiting offer that arg names. A decline
// may give a reason after the number ("2 no room"), or alone when only
// one offer waits; the sender sees it.
func (v *view) answer(s *client.Session, arg string, accept bool) {
	num, reason := offerArgs(arg)
	if accept && reason != "" {
		v.u.problem(errors.New("usage: /accept [N]"))
		return
	}
	o, err := pick(s, num)
	if err == nil && accept {
		err = s.Accept(o.N)
	} else if err == nil {
		err = s.Decline(o.N, reason)
	}
	if err != nil {
		v.u.problem(err)
		return
	}
	verb, text := "declined", fmt.Sprintf("* declined offer %d from %s", o.N, o.From)
	if accept {
		verb, text = "accepted", fmt.Sprintf("* accepted offer %d from %s, into %s", o.N, o.From, v.dir)
	} else {
		delete(v.offers, o.N)
	}
	v.event(map[string]any{"type": verb, "offer": o.N, "transfer": o.Transfer, "from": o.From}, text)
}

// list prints the waiting offers, or every entry of the one arg names.
func (v *view) list(s *client.Session, arg string) {
	if strings.TrimSpace(arg) != "" {
		o, err := pick(s, arg)
		if err != nil {
			v.u.problem(err)
			return
		}
		lines := []string{fmt.Sprintf("* offer %d from %s:", o.N, o.From)}
		for _, line := range entryLines(o.Files, len(o.Files)) {
			lines = append(lines, "    "+line)
		}
		v.event(map[string]any{"type": "offer_list", "offer": o.N, "from": o.From, "list": o.Files}, lines...)
		return
	}
	waiting := s.Offers()
	if len(waiting) == 0 {
		v.event(map[string]any{"type": "offers", "offers": []int{}}, "* no offer is waiting for an answer")
		return
	}
	nums := make([]int, len(waiting))
	lines := make([]string, len(waiting))
	for i, o := range waiting {
		files, folders, bytes := o.Totals()
		nums[i] = o.N
		lines[i] = fmt.Sprintf("%d: %s from %s (%s)", o.N, contents(files, folders), o.From, size(bytes))
	}
	v.event(map[string]any{"type": "offers", "offers": nums}, "* waiting: "+strings.Join(lines, "; "))
}

// keepPartialFlag defines --keep-partial for a command that receives into
// --dir, as serve's for its folder.
func keepPartialFlag(cmd *cobra.Command) *time.Duration {
	return cmd.Flags().Duration("keep-partial", client.DefaultKeepParts,
		"how long the part of a file cut on its way into --dir is kept for its sender to resume; older parts there are removed on connecting (negative: never)")
}
