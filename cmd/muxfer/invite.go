package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/spf13/cobra"
)

func inviteCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "invite",
		Short: "print a single-use invitation to a members-only hub",
		Long: "invite --members FILE --name NAME [--expires 24h]\n\n" +
			"Prints an invitation for NAME to the members-only hub that serve --members FILE\n" +
			"runs. Run it where the hub runs, as the same user: the invitation carries the hub's\n" +
			"key, so the new member needs no access key and can check the hub. They run\n" +
			"muxfer chat ADDR --invite CODE once (or with " + inviteEnv + "=CODE, which ps does not\n" +
			"show); the hub then adds NAME and their identity to FILE, and the invitation is\n" +
			"spent. The code is alone on the last line of stdout.",
		Example: "  muxfer invite --members /etc/muxfer/members --name carol\n" +
			"  muxfer invite --members members --name dave --expires 1h | tail -1\n",
		Args: noArgs,
	}
	fs := cmd.Flags()
	members := fs.String("members", "", "the members `FILE` of the hub (as given to serve --members)")
	name := fs.String("name", "", "the name the new member will have")
	expires := fs.Duration("expires", 24*time.Hour, "how long the invitation is good for")
	_ = cmd.RegisterFlagCompletionFunc("members", anyFile)
	cmd.RunE = func(*cobra.Command, []string) error {
		switch {
		case *members == "":
			return usageError{"missing --members FILE"}
		case *name == "":
			return usageError{"missing --name NAME"}
		case *expires <= 0:
			return usageError{"--expires must be more than 0"}
		}
		dir, err := client.ConfigDir(e.getenv)
		if err != nil {
			return fmt.Errorf("finding the hub's identity: %w", err)
		}
		// The hub's own, which serve --members made: an invitation with
		// another key would send the new member to the wrong hub.
		path := filepath.Join(dir, "hub-identity")
		id, err := client.ReadIdentityFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no hub identity in %s: run muxfer invite as the user who runs serve --members, with the same configuration (it makes the identity when it first starts)", path)
		}
		if err != nil {
			return err
		}
		until := time.Now().Add(*expires)
		inv, err := hub.NewInvitation(*members, id.Public(), *name, until)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "an invitation for %s, once, until %s, to the hub whose key is %s; they run:\n",
			*name, until.UTC().Format("2006-01-02 15:04 UTC"), client.Fingerprint(id.Public()))
		fmt.Fprintf(e.stdout, "  %s=%s muxfer chat HUB-ADDRESS\n%s\n", inviteEnv, inv, inv)
		return nil
	}
	return cmd
}
