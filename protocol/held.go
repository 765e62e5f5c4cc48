package protocol

import "encoding/json"

// Held transfers: files a client leaves on the hub, sealed for people
// who are not connected, until they take them (see the README, "Held
// transfers"). The hub stores sealed bytes it cannot read; these
// messages say who sends what to whom.

// Lookup asks the hub which identity each of Names has: the one its
// owner proved, or that of the client connected under it. ID names the
// answer.
type Lookup struct {
	ID    string   `json:"id"`
	Names []string `json:"names"`
}

// People answers a Lookup, one Person per name asked, in order: Identity
// is "" for a name no identity has.
type People struct {
	ID     string   `json:"id"`
	People []Person `json:"people"`
}

// Person is someone a held transfer is for: a name, the identity (an
// Ed25519 key in hex) the files are sealed to, and in the hub's answers
// whether a client of that identity is connected (Online) and, for a
// held transfer, what the person did with it (State).
type Person struct {
	Name     string `json:"name"`
	Identity string `json:"identity"`
	Online   bool   `json:"online,omitempty"`
	State    string `json:"state,omitempty"`
}

// States of a Person of a held transfer.
const (
	HoldWaiting  = "waiting"
	HoldTaken    = "taken"
	HoldDeclined = "declined"
)

// MaxHoldRecipients bounds the people of one held transfer, and the
// names of one Lookup.
const MaxHoldRecipients = 32

// HoldSpec, in an Offer, makes the offer's files a held transfer for To
// rather than an upload: ID is the transfer's id (32 hex digits), and
// every entry's path is ID, or ID and "/key", "/manifest" or "/" and a
// file's stream number.
type HoldSpec struct {
	ID string   `json:"id"`
	To []Person `json:"to"`
}

// Held tells the sender of a held transfer that the hub has every byte
// of it, verified, and holds it until Expires (Unix seconds) for To.
type Held struct {
	ID      string   `json:"id"`
	To      []Person `json:"to"`
	Expires int64    `json:"expires"`
}

// Hold describes a held transfer: to its recipient in Waiting, to its
// sender in Holdings. Bytes counts its sealed bytes, Streams its files'
// streams (the key and manifest not counted).
type Hold struct {
	ID           string   `json:"id"`
	From         string   `json:"from"`
	FromIdentity string   `json:"from_identity"`
	To           []Person `json:"to,omitempty"`
	Bytes        int64    `json:"bytes"`
	Streams      int      `json:"streams"`
	Created      int64    `json:"created"`
	Expires      int64    `json:"expires"`
}

// Waiting tells a client the held transfers that wait for it: when it
// connects, and when one more is held for it while it is connected.
type Waiting struct {
	Holds []Hold `json:"holds"`
}

// Release tells the hub that the client took (Taken) or declined a held
// transfer waiting for it: the hub forgets the transfer for that client,
// and deletes it once every recipient has released it.
type Release struct {
	Hold  string `json:"hold"`
	Taken bool   `json:"taken,omitempty"`
}

// Holds asks the hub for the held transfers this client sent that are
// still held, after withdrawing Withdraw (an id) if set.
type Holds struct {
	ID       string `json:"id"`
	Withdraw string `json:"withdraw,omitempty"`
}

// Holdings answers Holds. Error and Code say why a withdrawal failed
// (CodeNotFound).
type Holdings struct {
	ID    string `json:"id"`
	Holds []Hold `json:"holds"`
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
}

// MaxHoldsListed bounds the held transfers of one Waiting or Holdings.
const MaxHoldsListed = 256

// decodeLookup decodes a Lookup, counting its names first against
// MaxHoldRecipients.
func decodeLookup(b []byte) (Message, error) {
	var w struct {
		Lookup
		Names json.RawMessage `json:"names"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	l := w.Lookup
	if err := decodeBounded(w.Names, &l.Names, MaxHoldRecipients, "names"); err != nil {
		return nil, err
	}
	return l, nil
}

// decodeBounded decodes the JSON array raw into list, unless it holds more
// than limit elements, which it counts first.
func decodeBounded[T any](raw json.RawMessage, list *[]T, limit int, what string) error {
	if len(raw) == 0 {
		return nil
	}
	if countElements(raw, limit) > limit {
		return errTooMany(what, limit)
	}
	return json.Unmarshal(raw, list)
}

func (Lookup) Type() string   { return "lookup" }
func (People) Type() string   { return "people" }
func (Held) Type() string     { return "held" }
func (Waiting) Type() string  { return "waiting" }
func (Release) Type() string  { return "release" }
func (Holds) Type() string    { return "holds" }
func (Holdings) Type() string { return "holdings" }
