package hub_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/hub"
	"github.com/muxfer/muxfer/hub/hubtest"
	"github.com/muxfer/muxfer/mux"
	"github.com/muxfer/muxfer/protocol"
)

// rawJSON encodes m as protocol.Encode does but leaves '<', '>' and '&'
// as they are: what a hostile client sends so that the hub's encoder,
// which escapes each as six bytes, makes the forwarded message grow.
func rawJSON(t *testing.T, m protocol.Message) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	body := bytes.TrimSpace(b.Bytes())
	return append([]byte(`{"type":"`+m.Type()+`",`), body[1:]...)
}

// sendRaw writes b as one frame on ctrl.
func sendRaw(t *testing.T, ctrl net.Conn, b []byte) {
	t.Helper()
	if len(b) > protocol.MaxControlFrame {
		t.Fatalf("test frame of %d bytes is over the limit itself", len(b))
	}
	if err := protocol.WriteFrame(ctrl, b); err != nil {
		t.Fatal(err)
	}
}

// until reads messages from ctrl (each through ReadMessage, which
// enforces the frame limit, as every client does) until ok returns true,
// and fails the test if the session breaks first or time runs out.
func until(t *testing.T, who string, ctrl net.Conn, what string, ok func(protocol.Message) bool) protocol.Message {
	t.Helper()
	ctrl.SetReadDeadline(time.Now().Add(20 * time.Second))
	defer ctrl.SetReadDeadline(time.Time{})
	for {
		m, err := protocol.ReadMessage(ctrl)
		if err != nil {
			t.Fatalf("%s, waiting for %s: %v", who, what, err)
		}
		if ok(m) {
			return m
		}
	}
}

// stillConnected checks that the client on ctrl is served: it asks who is
// there and reads the answer.
func stillConnected(t *testing.T, who string, ctrl net.Conn) {
	t.Helper()
	if err := protocol.WriteMessage(ctrl, protocol.Who{}); err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	until(t, who, ctrl, "the answer to who", func(m protocol.Message) bool { _, ok := m.(protocol.Clients); return ok })
}

// joined connects a client by hand (see rawSession) under name.
func joined(t *testing.T, addr, name string) net.Conn {
	t.Helper()
	_, ctrl := rawSession(t, addr)
	if err := sayHello(ctrl, name); err != nil {
		t.Fatal(err)
	}
	return ctrl
}

// lotsOf returns n copies of s.
func lotsOf(s string, n int) string { return strings.Repeat(s, n) }

// growingOffer is an offer to `to` of files whose names are all '<': 228
// KB as sent, over 1.3 MB once each '<' is written as \u003c.
func growingOffer(to string) protocol.Offer {
	o := protocol.Offer{Transfer: "0123456789abcdef0123456789abcdef", To: to}
	for i := range 900 {
		o.Files = append(o.Files, protocol.File{Path: fmt.Sprintf("%s%03d", lotsOf("<", 240), i), Size: 1, Mode: 0o644})
	}
	return o
}

// Whatever one client sends, the hub never forwards another a message
// over the frame limit that client enforces (which would cost it its
// connection): it refuses what would not fit, or clips the text it
// passes on.
func TestForwardedMessagesFitTheRecipientsFrame(t *testing.T) {
	huge := lotsOf("<", 200_000)
	tests := []struct {
		name string
		// run plays the hostile client, mallory, against the victim,
		// victim; both are connected by hand and named so.
		run func(t *testing.T, mallory, victim net.Conn)
	}{
		{"an offer whose names grow when encoded again", func(t *testing.T, mallory, victim net.Conn) {
			sendRaw(t, mallory, rawJSON(t, growingOffer("victim")))
			m := until(t, "mallory", mallory, "a reject", func(m protocol.Message) bool { _, ok := m.(protocol.Reject); return ok })
			if r := m.(protocol.Reject); !strings.Contains(r.Reason, "too large") {
				t.Errorf("reject reason %q, want it to say the offer is too large", r.Reason)
			}
		}},
		{"a reject reason that grows", func(t *testing.T, mallory, victim net.Conn) {
			offerTo(t, victim, "mallory")
			o := until(t, "mallory", mallory, "the offer", isOffer).(protocol.Offer)
			sendRaw(t, mallory, rawJSON(t, protocol.Reject{Transfer: o.Transfer, Reason: huge}))
			m := until(t, "victim", victim, "the reject", func(m protocol.Message) bool { _, ok := m.(protocol.Reject); return ok })
			if r := m.(protocol.Reject); len(r.Reason) > protocol.MaxReasonLen+64 {
				t.Errorf("reject reason passed on has %d bytes", len(r.Reason))
			}
		}},
		{"a result's error that grows", func(t *testing.T, mallory, victim net.Conn) {
			offerTo(t, victim, "mallory")
			o := until(t, "mallory", mallory, "the offer", isOffer).(protocol.Offer)
			sendRaw(t, mallory, rawJSON(t, protocol.Accept{Transfer: o.Transfer}))
			until(t, "victim", victim, "the accept", func(m protocol.Message) bool { _, ok := m.(protocol.Accept); return ok })
			sendRaw(t, mallory, rawJSON(t, protocol.Result{Transfer: o.Transfer, File: 0, Error: huge, Stored: huge, Hash: huge}))
			m := until(t, "victim", victim, "the result", func(m protocol.Message) bool { _, ok := m.(protocol.Result); return ok })
			if r := m.(protocol.Result); len(r.Error)+len(r.Stored)+len(r.Hash) > 8<<10 {
				t.Errorf("result passed on has %d bytes of text", len(r.Error)+len(r.Stored)+len(r.Hash))
			}
		}},
		{"a sender's cancellation that grows", func(t *testing.T, mallory, victim net.Conn) {
			const id = "fedcba9876543210fedcba9876543210"
			protocol.WriteMessage(mallory, protocol.Offer{Transfer: id, To: "victim", Files: []protocol.File{{Path: "a", Size: 1, Mode: 0o644}}})
			o := until(t, "victim", victim, "the offer", isOffer).(protocol.Offer)
			protocol.WriteMessage(victim, protocol.Accept{Transfer: o.Transfer})
			until(t, "mallory", mallory, "the accept", func(m protocol.Message) bool { _, ok := m.(protocol.Accept); return ok })
			sendRaw(t, mallory, rawJSON(t, protocol.Result{Transfer: id, File: 0, Error: huge}))
			m := until(t, "victim", victim, "the cancellation", func(m protocol.Message) bool { _, ok := m.(protocol.Result); return ok })
			if r := m.(protocol.Result); len(r.Error) > protocol.MaxReasonLen+64 {
				t.Errorf("cancellation passed on has %d bytes of error", len(r.Error))
			}
		}},
		{"an accept that lists every file many times", func(t *testing.T, mallory, victim net.Conn) {
			offerTo(t, victim, "mallory")
			o := until(t, "mallory", mallory, "the offer", isOffer).(protocol.Offer)
			a := protocol.Accept{Transfer: o.Transfer}
			for range 9000 {
				a.Have = append(a.Have, protocol.Have{File: 0, Offset: 1, Hash: lotsOf("<", 64)})
			}
			sendRaw(t, mallory, rawJSON(t, a))
			m := until(t, "victim", victim, "the accept", func(m protocol.Message) bool { _, ok := m.(protocol.Accept); return ok })
			if a := m.(protocol.Accept); len(a.Have) > 1 {
				t.Errorf("accept passed on lists %d entries for an offer of one file", len(a.Have))
			}
		}},
		{"an accept whose hashes grow", func(t *testing.T, mallory, victim net.Conn) {
			o := protocol.Offer{Transfer: "00112233445566778899aabbccddeeff", To: "mallory"}
			for i := range 3000 {
				o.Files = append(o.Files, protocol.File{Path: fmt.Sprintf("f%d", i), Size: 1, Mode: 0o644})
			}
			if err := protocol.WriteMessage(victim, o); err != nil {
				t.Fatal(err)
			}
			got := until(t, "mallory", mallory, "the offer", isOffer).(protocol.Offer)
			a := protocol.Accept{Transfer: got.Transfer}
			for i := range got.Files {
				a.Have = append(a.Have, protocol.Have{File: i, Offset: 1, Hash: lotsOf("<", 64)})
			}
			sendRaw(t, mallory, rawJSON(t, a))
			m := until(t, "victim", victim, "the accept", func(m protocol.Message) bool { _, ok := m.(protocol.Accept); return ok })
			if a := m.(protocol.Accept); len(a.Have) != 0 {
				t.Errorf("accept passed on lists %d entries with hashes no receiver writes", len(a.Have))
			}
		}},
		{"a direct message to a name of a megabyte", func(t *testing.T, mallory, victim net.Conn) {
			sendRaw(t, mallory, rawJSON(t, protocol.Chat{To: lotsOf("<", 180_000), Text: "hi"}))
			until(t, "mallory", mallory, "the notice", func(m protocol.Message) bool { _, ok := m.(protocol.Notice); return ok })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hubtest.Start(t, hub.Config{Mux: mux.Config{Linger: 100 * time.Millisecond}})
			victim := joined(t, h.Addr, "victim")
			mallory := joined(t, h.Addr, "mallory")
			until(t, "victim", victim, "mallory's arrival", func(m protocol.Message) bool { _, ok := m.(protocol.Presence); return ok })
			tt.run(t, mallory, victim)
			stillConnected(t, "victim", victim)
			stillConnected(t, "mallory", mallory)
		})
	}
}

func isOffer(m protocol.Message) bool { _, ok := m.(protocol.Offer); return ok }

// offerTo makes the client on ctrl offer one file to the client named to.
func offerTo(t *testing.T, ctrl net.Conn, to string) {
	t.Helper()
	o := protocol.Offer{Transfer: "00112233445566778899aabbccddeeff", To: to, Files: []protocol.File{{Path: "a.txt", Size: 3, Mode: 0o644}}}
	if err := protocol.WriteMessage(ctrl, o); err != nil {
		t.Fatal(err)
	}
}
