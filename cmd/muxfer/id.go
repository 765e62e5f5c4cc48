package main

import (
	"fmt"
	"path/filepath"

	"github.com/muxfer/muxfer/client"
	"github.com/spf13/cobra"
)

// identityPath is where this user's identity lives: identity in muxfer's
// folder of the config directory.
func identityPath(e env) (string, error) {
	dir, err := client.ConfigDir(e.getenv)
	if err != nil {
		return "", fmt.Errorf("keeping an identity: %w", err)
	}
	return filepath.Join(dir, "identity"), nil
}

func idCommand(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "print your identity's fingerprint, the one others know you by",
		Long: "id\n\nPrints the fingerprint of your identity: an Ed25519 key made on first use in\n" +
			"$XDG_CONFIG_HOME/muxfer/identity (mode 0600; refused if others can read it),\n" +
			"never sent anywhere. Read it to the people you deal with, so that they can\n" +
			"check it is you. The fingerprint is alone on stdout; a note on stderr says when\n" +
			"the identity was made just now.",
		Example: "  muxfer id                                  # made on first use, the same after\n" +
			"  XDG_CONFIG_HOME=/tmp/alice muxfer id       # another identity, kept elsewhere (tests)\n",
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			path, err := identityPath(e)
			if err != nil {
				return err
			}
			id, created, err := client.IdentityFile(path)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(e.stderr, "muxfer: made a new identity in %s\n", path)
			}
			fmt.Fprintln(e.stdout, id.Fingerprint())
			return nil
		},
	}
}
