package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/internal/atomicfile"
)

// The members-only hubs this user has reached, and their keys, are kept
// in hubs in muxfer's folder of the config directory, one per line:
// "HOST:PORT KEY". A client given neither a key nor an invitation for an
// address listed there connects with that hub's key.

// maxKnownHubs bounds the hubs remembered.
const maxKnownHubs = 1000

func hubsPath(e env) (string, error) {
	dir, err := client.ConfigDir(e.getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "hubs"), nil
}

// knownHubs reads the file, keyed by address; a missing or unreadable
// file holds none.
func knownHubs(e env) map[string]string {
	hubs := map[string]string{}
	path, err := hubsPath(e)
	if err != nil {
		return hubs
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return hubs
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) == 2 && len(hubs) < maxKnownHubs {
			hubs[f[0]] = f[1]
		}
	}
	return hubs
}

// knownHub returns the key of the members-only hub reached at addr
// before, or nil.
func knownHub(e env, addr string) ed25519.PublicKey {
	if addr == "" {
		return nil
	}
	pub, err := hex.DecodeString(knownHubs(e)[client.HubAddr(addr)])
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil
	}
	return pub
}

// rememberHub records key for the members-only hub at addr. A failure is
// only a warning: the next connection needs --hub-key again.
func rememberHub(e env, addr string, key ed25519.PublicKey) {
	addr = client.HubAddr(addr)
	hubs := knownHubs(e)
	if hubs[addr] == hex.EncodeToString(key) {
		return
	}
	hubs[addr] = hex.EncodeToString(key)
	lines := make([]string, 0, len(hubs))
	for a, k := range hubs {
		lines = append(lines, a+" "+k+"\n")
	}
	slices.Sort(lines)
	path, err := hubsPath(e)
	if err == nil {
		err = atomicfile.Replace(path, []byte(strings.Join(lines, "")))
	}
	if err != nil {
		printError(e.stderr, fmt.Sprintf("cannot remember the hub's key (%v): give --hub-key next time", err))
	}
}
