package hub

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/muxfer/muxfer/protocol"
	"github.com/muxfer/muxfer/transfer"
	"golang.org/x/time/rate"
)

// Defaults of the limits in Config.
const (
	DefaultMaxClients            = 1000
	DefaultMaxHandshakes         = 128
	DefaultChatMessagesPerSecond = 20
	DefaultChatBurst             = 100
	DefaultChatBytesPerSecond    = 256 << 10
	DefaultChatBytesBurst        = 1 << 20
	DefaultMaxOfferFolders       = 10_000
	DefaultMaxSessionFolders     = 100_000
	DefaultOfferTimeout          = 10 * time.Minute
	DefaultOffersPerSecond       = 20
	DefaultOfferBurst            = 100
	DefaultMaxRelaysFromOne      = 8
	DefaultMaxClientQueue        = 4 << 20
	DefaultMaxQueuedBytes        = 256 << 20
	DefaultPresenceBurst         = 10
	DefaultPresencePerMinute     = 10
)

// maxNameSuffix is the highest number register appends to a name that is
// taken ("alice-1000") before it refuses the client.
const maxNameSuffix = 1000

// withDefaults fills in every limit left at zero (or below).
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxClients, DefaultMaxClients)
	def(&c.MaxHandshakes, DefaultMaxHandshakes)
	def(&c.MaxHandshakesPerAddr, DefaultMaxHandshakesPerAddr)
	def(&c.MaxClientsPerAddr, DefaultMaxClientsPerAddr)
	def(&c.MaxStreamsPerAddr, streamsPerClient*c.MaxClientsPerAddr)
	def(&c.MaxStreamsTotal, DefaultMaxStreamsTotal)
	def(&c.ChatMessagesPerSecond, DefaultChatMessagesPerSecond)
	def(&c.ChatBurst, DefaultChatBurst)
	def(&c.ChatBytesPerSecond, DefaultChatBytesPerSecond)
	def(&c.ChatBytesBurst, DefaultChatBytesBurst)
	def(&c.MaxOfferFolders, DefaultMaxOfferFolders)
	def(&c.MaxSessionFolders, DefaultMaxSessionFolders)
	def(&c.OffersPerSecond, DefaultOffersPerSecond)
	def(&c.OfferBurst, DefaultOfferBurst)
	def(&c.MaxRelaysFromOne, DefaultMaxRelaysFromOne)
	def(&c.MaxOpenEntries, transfer.MaxFiles)
	def(&c.MaxOpenEntriesPerAddr, 2*transfer.MaxFiles)
	def(&c.MaxOpenEntriesTotal, 20*transfer.MaxFiles)
	def(&c.PresenceBurst, DefaultPresenceBurst)
	def(&c.PresencePerMinute, DefaultPresencePerMinute)
	def(&c.MaxOwnedNames, DefaultMaxOwnedNames)
	def(&c.MaxRecordedUploads, DefaultMaxRecordedUploads)
	if c.Hold <= 0 {
		c.Hold = DefaultHold
	}
	if c.HoldQuota <= 0 {
		c.HoldQuota = DefaultHoldQuota
	}
	if c.Read == "" {
		c.Read = ReadOwn
	}
	if c.MaxClientQueue <= 0 {
		c.MaxClientQueue = DefaultMaxClientQueue
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.OfferTimeout <= 0 {
		c.OfferTimeout = DefaultOfferTimeout
	}
	// A burst smaller than one message would refuse the longest chat line
	// however slowly it was sent.
	c.ChatBytesBurst = max(c.ChatBytesBurst, MaxChatLen)
	return c
}

// chatLimit is one client's allowance for chat: a token bucket of
// messages and one of bytes of text. Only the peer's reading goroutine
// uses it.
type chatLimit struct {
	msgs, bytes                   *rate.Limiter
	msgsPerSecond, bytesPerSecond int
}

func newChatLimit(c Config) chatLimit {
	return chatLimit{
		msgs:          rate.NewLimiter(rate.Limit(c.ChatMessagesPerSecond), c.ChatBurst),
		bytes:         rate.NewLimiter(rate.Limit(c.ChatBytesPerSecond), c.ChatBytesBurst),
		msgsPerSecond: c.ChatMessagesPerSecond, bytesPerSecond: c.ChatBytesPerSecond,
	}
}

// allow charges one message of what ("chat", "who") carrying n bytes of
// text, and returns the refusal to send if the client is over its rate.
func (l *chatLimit) allow(what string, n int, now time.Time) error {
	if !l.msgs.AllowN(now, 1) {
		return fmt.Errorf("%s rate over %d messages/s", what, l.msgsPerSecond)
	}
	if !l.bytes.AllowN(now, n) {
		return fmt.Errorf("%s rate over %d bytes/s", what, l.bytesPerSecond)
	}
	return nil
}

// throttle lets an event through at most once per period and counts the
// ones it holds back, so that a flood of refusals makes one log line a
// second rather than one per connection.
type throttle struct {
	period time.Duration

	mu   sync.Mutex
	next time.Time
	held int
}

// allow reports whether the event may be logged now and, if so, how many
// were held back since the last one that was.
func (t *throttle) allow(now time.Time) (ok bool, held int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Before(t.next) {
		t.held++
		return false, 0
	}
	held, t.held = t.held, 0
	t.next = now.Add(t.period)
	return true, held
}

// offerFolders counts the folders an offer may create: the folders it
// lists and the parents of every entry, each counted once as spelled: on a
// case-sensitive disk "A/b" and "a/b" are two folders each, so folding
// case here would let an offer create many more folders than it is
// charged for. It stops counting once
// the count passes limit, so a hostile offer costs little to refuse.
//
// The offer's paths have not been checked yet; a malformed one is counted
// as it stands and refused later by transfer.CheckOffer.
func offerFolders(files []protocol.File, limit int) int {
	seen := map[string]struct{}{}
	add := func(dir string) bool {
		if _, ok := seen[dir]; ok {
			return false
		}
		seen[dir] = struct{}{}
		return true
	}
	for _, f := range files {
		if f.Dir && !add(f.Path) {
			continue // its parents were counted with it
		}
		// Every parent of a folder in seen is in seen too, so the walk up
		// stops at the first parent already counted.
		for i := strings.LastIndexByte(f.Path, '/'); i > 0; i = strings.LastIndexByte(f.Path[:i], '/') {
			if !add(f.Path[:i]) {
				break
			}
		}
		if len(seen) > limit {
			break
		}
	}
	return len(seen)
}
