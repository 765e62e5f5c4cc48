package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/muxfer/muxfer/client"
	"github.com/spf13/cobra"
)

// knownPeers opens this user's pins: known_peers in muxfer's folder of
// the config directory. Without a config directory nothing is pinned (a
// warning says so).
func knownPeers(e env) (*client.KnownPeers, error) {
	dir, err := client.ConfigDir(e.getenv)
	if err != nil {
		printError(e.stderr, fmt.Sprintf("no known peers (%v): nobody's key is pinned", err))
		return nil, nil
	}
	return client.OpenKnownPeers(filepath.Join(dir, "known_peers"))
}

func peersCommand(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "peers [forget NAME]",
		Short: "list the people whose keys you have pinned, or forget one",
		Long: "peers\npeers forget NAME\n\nLists the names whose identity you have pinned, one per line: the name, its\n" +
			"key's fingerprint, and the hub (the hub's own key's fingerprint, or plain: and its\n" +
			"address without TLS). chat, send and recv pin a name's key the first time you send\n" +
			"to it, take an offer from it or exchange a direct message with it, in\n" +
			"$XDG_CONFIG_HOME/muxfer/known_peers; from then on they refuse to send to, or take\n" +
			"anything from, that name with another key.\n\n" +
			"peers forget NAME drops the keys pinned for NAME on every hub, for a person who\n" +
			"really has a new identity: the next exchange with NAME pins the key it has then.\n" +
			"Compare that key's fingerprint with the person first.",
		Example: "  muxfer peers\n" +
			"  muxfer peers forget bob     # after comparing bob's new fingerprint with bob\n",
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) == 0 || len(args) == 2 && args[0] == "forget":
				return nil
			case args[0] == "forget":
				return usageError{"peers forget takes one NAME"}
			}
			return usageError{fmt.Sprintf("unknown argument %q: peers lists, peers forget NAME forgets", args[0])}
		},
		RunE: func(_ *cobra.Command, args []string) error {
			k, err := knownPeers(e)
			if err != nil || k == nil {
				return err
			}
			if len(args) == 2 {
				return forgetPeer(e, k, args[1])
			}
			for _, p := range k.List() {
				hub := p.Hub
				if !strings.HasPrefix(hub, "plain:") {
					hub = client.PeerFingerprint(hub)
				}
				fmt.Fprintf(e.stdout, "%s %s hub %s\n", p.Name, client.PeerFingerprint(p.Identity), hub)
			}
			return nil
		},
	}
}

// forgetPeer drops name's pins and says how many there were.
func forgetPeer(e env, k *client.KnownPeers, name string) error {
	n, err := k.Forget(name)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("no key is pinned for %s", name)
	}
	fmt.Fprintf(e.stdout, "forgot %s's key on %s\n", name, plural(n, "hub"))
	return nil
}
