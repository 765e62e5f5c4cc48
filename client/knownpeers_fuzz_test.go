package client

import (
	"strings"
	"testing"
)

// FuzzKnownPeersFile reads any known-peers file: it is refused with an
// error, or every pin read is a hub, a name and a key.
func FuzzKnownPeersFile(f *testing.F) {
	key := strings.Repeat("ab", 32)
	f.Add([]byte("h1 bob " + key + "\nplain:127.0.0.1:7878 carol " + key + "\n"))
	f.Add([]byte("h1 bob\n"))
	f.Add([]byte("\n\nh1 bob " + strings.ToUpper(key) + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pins, err := parsePins("known_peers", b)
		if err != nil {
			return
		}
		if len(pins) > MaxKnownPeers {
			t.Fatalf("%d pins", len(pins))
		}
		for k, id := range pins {
			if k.hub == "" || !isPinnable(k.name) || !isIdentity(id) || strings.ContainsAny(k.hub, " \n") {
				t.Fatalf("read a pin %+v %q", k, id)
			}
		}
	})
}
