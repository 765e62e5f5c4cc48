package hub

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/muxfer/muxfer/protocol"
	"golang.org/x/time/rate"
)

// TestBucketRefillsAtItsRateUpToItsBurst pins down what the hub's
// allowances (chat, offers, presence, log lines) take from rate.Limiter:
// a bucket starts full, a refusal takes nothing, and it refills at its
// rate up to its burst and no further.
func TestBucketRefillsAtItsRateUpToItsBurst(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	steps := []struct {
		at   time.Duration // since t0
		take int
		ok   bool
	}{
		{0, 10, true},                      // full at the start
		{0, 1, false},                      // empty now, and a refusal takes nothing
		{100 * time.Millisecond, 2, true},  // 20 a second: 2 in 100 ms
		{100 * time.Millisecond, 1, false}, // and no more
		{time.Hour, 11, false},             // refills to the burst, not beyond
		{time.Hour, 10, true},
		{time.Hour, 1, false},
		{time.Hour - time.Second, 1, false}, // a clock going back gives nothing
		{time.Hour + 50*time.Millisecond, 1, true},
		{time.Hour + 50*time.Millisecond, 1, false},
	}
	b := rate.NewLimiter(20, 10)
	for i, s := range steps {
		if got := b.AllowN(t0.Add(s.at), s.take); got != s.ok {
			t.Fatalf("step %d: AllowN(%d) at %v = %v, want %v (tokens left %.3f)", i, s.take, s.at, got, s.ok, b.TokensAt(t0.Add(s.at)))
		}
	}
}

// TestPresenceLimitForgetsOnlyRefilledSources: once it remembers
// maxPresenceSources, a new source is announced only if a quiet one (its
// bucket full again) can be forgotten, and one that is still within its
// allowance is never forgotten early, which would give it a new burst.
func TestPresenceLimitForgetsOnlyRefilledSources(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	l := newPresenceLimit(60, 2) // one a second, two at once
	src := func(i int) source {
		return source{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)}
	}
	first := src(0)
	for i, want := range []bool{true, true, false} {
		if got := l.allow(first, t0); got != want {
			t.Fatalf("join %d from one source = %v, want %v", i, got, want)
		}
	}
	for i := 1; i < maxPresenceSources; i++ {
		l.allow(src(i), t0)
	}
	if l.allow(src(maxPresenceSources), t0) {
		t.Fatal("a new source was announced while every remembered one was still within its allowance")
	}
	// A second on, the sources that joined once are full again and
	// forgotten; the first, emptied, has one join back, not a new burst.
	now := t0.Add(time.Second)
	if !l.allow(src(maxPresenceSources), now) {
		t.Fatal("a new source was refused though quiet ones could be forgotten")
	}
	for i, want := range []bool{true, false} {
		if got := l.allow(first, now); got != want {
			t.Fatalf("join %d from the first source a second later = %v, want %v", i, got, want)
		}
	}
}

func TestChatLimitNamesTheRateItBroke(t *testing.T) {
	cfg := Config{ChatMessagesPerSecond: 5, ChatBurst: 3, ChatBytesPerSecond: 1000, ChatBytesBurst: 1}.withDefaults()
	t0 := time.Unix(1_000_000, 0)
	tests := []struct {
		name  string
		sends []int // bytes of each message, all at t0
		want  string
	}{
		{"within both", []int{10, 10, 10}, ""},
		{"one message too many", []int{0, 0, 0, 0}, "chat rate over 5 messages/s"},
		// The byte burst is raised to MaxChatLen: one longest line passes.
		{"longest line", []int{MaxChatLen}, ""},
		{"bytes over the burst", []int{MaxChatLen, 1}, "chat rate over 1000 bytes/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newChatLimit(cfg)
			var err error
			for _, n := range tt.sends {
				if err = l.allow("chat", n, t0); err != nil {
					break
				}
			}
			if got := fmt.Sprint(err); tt.want == "" && err != nil || tt.want != "" && got != tt.want {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestThrottleLetsOneEventThroughPerPeriod(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	th := throttle{period: time.Second}
	steps := []struct {
		at   time.Duration
		ok   bool
		held int
	}{
		{0, true, 0},
		{10 * time.Millisecond, false, 0},
		{999 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{5 * time.Second, true, 1},
	}
	for i, s := range steps {
		ok, held := th.allow(t0.Add(s.at))
		if ok != s.ok || held != s.held {
			t.Errorf("step %d at %v: allow = %v, %d; want %v, %d", i, s.at, ok, held, s.ok, s.held)
		}
	}
}

func TestOfferFoldersCountsListedAndParentFoldersOnce(t *testing.T) {
	dir := func(p string) protocol.File { return protocol.File{Path: p, Dir: true} }
	file := func(p string) protocol.File { return protocol.File{Path: p, Size: 1} }
	deep := strings.Repeat("d/", 2000) + "f"
	tests := []struct {
		name  string
		files []protocol.File
		limit int
		want  int
	}{
		{"files at the top", []protocol.File{file("a"), file("b")}, 10, 0},
		{"listed folders", []protocol.File{dir("a"), dir("b"), dir("a/c")}, 10, 3},
		{"parents of a file", []protocol.File{file("a/b/c/x")}, 10, 3},
		{"parents listed too", []protocol.File{dir("a"), dir("a/b"), file("a/b/x"), file("a/y")}, 10, 2},
		{"listed after its children", []protocol.File{file("a/b/x"), dir("a/b"), dir("a")}, 10, 2},
		{"each spelling counts (a case-sensitive disk makes them all)", []protocol.File{dir("Photos"), file("photos/x"), dir("PHOTOS/2024")}, 10, 4},
		{"a scp-like tree", []protocol.File{dir("t"), dir("t/n"), dir("t/n/a"), file("t/n/a/f"), file("t/g")}, 10, 3},
		{"stops past the limit", []protocol.File{dir("a"), dir("b"), dir("c"), dir("d"), dir("e")}, 2, 3},
		{"one deep file", []protocol.File{file(deep)}, 10_000, 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := offerFolders(tt.files, tt.limit); got != tt.want {
				t.Errorf("offerFolders = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestConfigDefaultsFillOnlyUnsetLimits(t *testing.T) {
	c := Config{MaxClients: 7, ChatBurst: -1}.withDefaults()
	got := []int{c.MaxClients, c.MaxHandshakes, c.ChatMessagesPerSecond, c.ChatBurst,
		c.ChatBytesPerSecond, c.ChatBytesBurst, c.MaxOfferFolders, c.MaxSessionFolders}
	want := []int{7, 128, 20, 100, 256 << 10, 1 << 20, 10_000, 100_000}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("limits after withDefaults = %v, want %v", got, want)
	}
}
