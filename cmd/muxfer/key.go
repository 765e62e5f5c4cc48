package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/muxfer/muxfer/client"
	"github.com/spf13/cobra"
)

// keyFlags are the flags that give an access key, shared by every command
// that connects or listens.
type keyFlags struct {
	key      *string
	keyFile  *string
	insecure *bool
	hubKey   *string // clients only: a members-only hub's key
	invite   *string // clients only: an invitation to a members-only hub
}

const keyEnv = "MUXFER_KEY"

func addKeyFlags(cmd *cobra.Command) keyFlags {
	fs := cmd.Flags()
	kf := keyFlags{
		key: fs.String("key", "", "access key (visible to other local users in the process list: prefer "+
			keyEnv+" or --key-file)"),
		keyFile:  fs.String("key-file", "", "read the access key from this `FILE` (mode 0600)"),
		insecure: fs.Bool("insecure-no-tls", false, "INSECURE: no TLS, no key: anyone can connect and read everything. For measuring on trusted links only"),
	}
	_ = cmd.RegisterFlagCompletionFunc("key-file", anyFile)
	return kf
}

// addClientKeyFlags is addKeyFlags for a command that connects to a hub,
// which may be members-only.
func addClientKeyFlags(cmd *cobra.Command) keyFlags {
	kf := addKeyFlags(cmd)
	kf.hubKey = cmd.Flags().String("hub-key", "", "the `KEY` of a members-only hub (serve --members prints it): no access key then, your identity\nmust be one of its members (remembered for ADDR after the first connection)")
	kf.invite = cmd.Flags().String("invite", "", "join a members-only hub with the invitation `CODE` (muxfer invite prints one), once; or from "+inviteEnv)
	return kf
}

const inviteEnv = "MUXFER_INVITE"

// clientAccess is access for a client of the hub at addr, from the first
// of: --invite, --hub-key, the access-key flags, MUXFER_KEY, MUXFER_INVITE,
// and the key of the members-only hub this user reached at addr before.
func (kf keyFlags) clientAccess(e env, addr string) (access, error) {
	invitation := func(code string) (access, error) {
		inv, err := client.ParseInvitation(code)
		if err != nil {
			return access{}, fmt.Errorf("invitation: %w", err)
		}
		return access{HubKey: inv.HubKey, Invitation: inv.Secret}, nil
	}
	keyFlag := *kf.insecure || *kf.key != "" || *kf.keyFile != ""
	switch {
	case *kf.invite != "":
		if keyFlag || *kf.hubKey != "" {
			return access{}, usageError{"--invite takes no access key, --hub-key or --insecure-no-tls"}
		}
		return invitation(*kf.invite)
	case *kf.hubKey != "" || keyFlag || e.getenv(keyEnv) != "":
	case e.getenv(inviteEnv) != "":
		return invitation(e.getenv(inviteEnv))
	default:
		if pub := knownHub(e, addr); pub != nil {
			return access{HubKey: pub}, nil
		}
	}
	a, _, err := kf.access(e, false)
	return a, err
}

// keySource says where a command's key came from.
type keySource struct {
	name    string // "--key", the key file, MUXFER_KEY, the hub's own key file
	created bool   // the hub's own key, made just now
}

// access is what the key flags give a hub or a client: a key, a
// members-only hub's key, or no TLS.
type access struct {
	Key           client.Key
	InsecureNoTLS bool
	HubKey        ed25519.PublicKey
	Invitation    []byte // with HubKey: the secret of an invitation to that hub
}

// access turns the key flags into a key. A client must be given one; a
// hub without one uses (and on first start creates) the key in the user's
// config directory, and says where it came from.
func (kf keyFlags) access(e env, hub bool) (cfg access, source keySource, err error) {
	if kf.hubKey != nil && *kf.hubKey != "" {
		if *kf.insecure || *kf.key != "" || *kf.keyFile != "" {
			return cfg, source, usageError{"--hub-key takes no access key and no --insecure-no-tls"}
		}
		pub, err := hex.DecodeString(*kf.hubKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return cfg, source, usageError{"--hub-key: not a hub's key (64 hex digits, as serve --members prints it)"}
		}
		return access{HubKey: pub}, keySource{name: "--hub-key"}, nil
	}
	if *kf.insecure {
		if *kf.key != "" || *kf.keyFile != "" {
			return cfg, source, usageError{"--insecure-no-tls takes no key"}
		}
		return access{InsecureNoTLS: true}, keySource{name: "none (--insecure-no-tls)"}, nil
	}
	if *kf.key != "" && *kf.keyFile != "" {
		return cfg, source, usageError{"give --key or --key-file, not both"}
	}
	var text string
	switch {
	case *kf.key != "":
		text, source.name = *kf.key, "--key"
	case *kf.keyFile != "":
		text, err = client.ReadKeyFile(*kf.keyFile)
		source.name = *kf.keyFile
	case e.getenv(keyEnv) != "":
		text, source.name = e.getenv(keyEnv), keyEnv
	case hub:
		return hubKey(e)
	default:
		return cfg, source, fmt.Errorf("no access key: set %s or pass --key-file (the hub prints its key when it creates it, and with serve --print-key); a members-only hub takes --hub-key or --invite instead", keyEnv)
	}
	if err != nil {
		return cfg, source, err
	}
	k, err := client.ParseKey(text)
	if err != nil {
		return cfg, source, fmt.Errorf("access key from %s: %w", source.name, err)
	}
	return access{Key: k}, source, nil
}

// hubKey loads the hub's key from its file in the user's config directory,
// creating the file with a new key on first use.
func hubKey(e env) (access, keySource, error) {
	text, path, created, err := configKey(e, "hub.key")
	if err != nil {
		return access{}, keySource{}, err
	}
	k, err := client.ParseKey(text)
	if err != nil {
		return access{}, keySource{}, fmt.Errorf("access key in %s: %w", path, err)
	}
	return access{Key: k}, keySource{name: path, created: created}, nil
}

// resumeSecret returns the user's secret from which sessions derive the
// resume tokens of what they send (client.SessionConfig.ResumeSecret),
// kept in the config directory so that running the same send again after
// a crash resumes it.
func resumeSecret(e env) ([]byte, error) {
	text, _, _, err := configKey(e, "resume.key")
	if err != nil {
		return nil, err
	}
	return []byte(text), nil
}

// configKey reads the key in the named file of muxfer's folder in the
// user's config directory, creating the file with a new key on first use
// (then created is true).
func configKey(e env, name string) (text, path string, created bool, err error) {
	dir, err := client.ConfigDir(e.getenv)
	if err != nil {
		return "", "", false, fmt.Errorf("keeping %s: %w", name, err)
	}
	path = filepath.Join(dir, name)
	text, created, err = client.KeyFile(path)
	return text, path, created, err
}

func keygenCommand(e env) *cobra.Command {
	return printer(e, &cobra.Command{
		Use:   "keygen",
		Short: "print a new access key",
		Long:  "keygen\n\nPrints a new access key: mxk2. and 56 letters, 256 random bits and a checksum\n(a mistyped key is refused as mistyped). Keys written mxk1. are still read.",
		Example: "  muxfer keygen\n" +
			"  muxfer keygen > hub.key && chmod 600 hub.key && muxfer serve --key-file hub.key\n",
	}, func() string { return client.NewKey().Text() })
}
