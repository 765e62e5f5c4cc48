package main

import (
	"encoding/hex"
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

// identity returns this user's identity, made on first use (quietly:
// stderr is for errors, and muxfer id shows it), which every connection to
// a hub proves (the names it is given are its own there).
// Without a config directory to keep one in, it warns and returns nil:
// the connection goes without, and may use only names no identity owns.
// An identity file that cannot be used (others may read it, or it is not
// an identity) is an error.
func identity(e env) (*client.Identity, error) {
	path, err := identityPath(e)
	if err != nil {
		printError(e.stderr, fmt.Sprintf("no identity (%v): you may use only names nobody owns", err))
		return nil, nil
	}
	id, _, err := client.IdentityFile(path)
	return id, err
}

func idCommand(e env) *cobra.Command {
	var key *bool
	cmd := &cobra.Command{
		Use:   "id",
		Short: "print your identity's fingerprint, the one others know you by",
		Long: "id\n\nPrints the fingerprint of your identity: an Ed25519 key made on first use in\n" +
			"$XDG_CONFIG_HOME/muxfer/identity (mode 0600; refused if others can read it),\n" +
			"never sent anywhere. Read it to the people you deal with, so that they can\n" +
			"check it is you. The fingerprint is alone on stdout; a note on stderr says when\n" +
			"the identity was made just now. With --key it prints the public key instead (64 hex\n" +
			"digits), the form a members-only hub's members file takes.",
		Example: "  muxfer id                                  # made on first use, the same after\n" +
			"  XDG_CONFIG_HOME=/tmp/alice muxfer id       # another identity, kept elsewhere (tests)\n" +
			"  muxfer id --key                            # the public key, for a members-only hub's members file\n",
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
			if *key {
				fmt.Fprintln(e.stdout, hex.EncodeToString(id.Public()))
				return nil
			}
			fmt.Fprintln(e.stdout, id.Fingerprint())
			return nil
		},
	}
	key = cmd.Flags().Bool("key", false, "print the public key (hex) instead of the fingerprint")
	return cmd
}
