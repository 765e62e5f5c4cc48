package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/muxfer/muxfer/client"
	"github.com/muxfer/muxfer/hub"
	"github.com/spf13/cobra"
)

// serveFlags are serve's flags, as parsed.
type serveFlags struct {
	listen, dir          *string
	verbose              *bool
	printKey             *bool // print the line clients need even if the key is not new
	grace, keepPartial   *time.Duration
	offerTimeout         *time.Duration
	maxClients, chatRate *int
	maxPerAddr           *int // clients per source address
	maxFiles             *int // entries per offer
	maxStreams           *int // data streams open at once
	maxStreamsPerAddr    *int // ... from one address
	reserveInodes        *int // inodes an offer must leave free; -1: 1% of the file system's
	maxSize, reserve     byteSize
	keys                 keyFlags
	members              *string   // a members-only hub's members file
	read                 *string   // who may list and get the stored files
	hold                 days      // how long held transfers are kept
	holdQuota            byteSize  // held bytes per sender
	shared               *[]string // folders everyone may list and get
}

func serveCommand(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "run a hub that relays chat and stores uploads",
		Long: "serve [--listen ADDR] [--dir DIR] [--key-file FILE] [--print-key] [--verbose]\n\n" +
			"Without a key, the hub uses the one in its config directory. When it creates that key\n" +
			"(on first start), and with --print-key, it prints the line clients need on stdout:\n" +
			"MUXFER_KEY=... muxfer chat HOST:PORT\n\n" +
			"With --members FILE the hub is members-only: it admits only the identities FILE\n" +
			"lists, one per line, a name and a public key (muxfer id --key prints one), each\n" +
			"under its name there; it takes no access key, and its TLS identity is a key of its\n" +
			"own ($XDG_CONFIG_HOME/muxfer/hub-identity), which clients give as --hub-key. It\n" +
			"prints the line members need on stdout, and rereads FILE when it changes or on\n" +
			"SIGHUP: a member taken out is disconnected.\n\n" +
			"Clients list and get back the files the hub stores (muxfer ls, muxfer get): with\n" +
			"--read own (the default) each one the files its identity uploaded, and the --shared\n" +
			"folders; --read all lets every client read everything, --read none nobody.\n\n" + deadPeerNote,
		Example: "  muxfer serve                               # listen on :7878, store uploads in ./muxfer-files\n" +
			"  muxfer serve --listen 127.0.0.1:9000 --dir /srv/drop --key-file /etc/muxfer/hub.key\n" +
			"  muxfer serve --max-size 10G --reserve 1G --shared releases   # everyone may get releases/\n" +
			"  muxfer serve --members /etc/muxfer/members      # only the identities listed there\n",
		Args: noArgs,
	}
	fs := cmd.Flags()

	sf := &serveFlags{
		listen:            fs.String("listen", fmt.Sprintf(":%d", client.DefaultPort), fmt.Sprintf("address to listen on (a host without a port: port %d)", client.DefaultPort)),
		dir:               fs.String("dir", "muxfer-files", "`DIR` that uploads are stored in (created if missing)"),
		verbose:           fs.Bool("verbose", false, "log every stored file"),
		printKey:          fs.Bool("print-key", false, "print the line clients need (MUXFER_KEY=... muxfer chat HOST:PORT) on stdout, as on the first start"),
		grace:             fs.Duration("grace", 10*time.Second, "on SIGINT or SIGTERM, how long transfers in progress may take to finish (the rest resume when the hub is back)"),
		keepPartial:       fs.Duration("keep-partial", hub.DefaultKeepParts, "how long the part of a cut file is kept for its sender to resume"),
		offerTimeout:      fs.Duration("offer-timeout", hub.DefaultOfferTimeout, "how long an offer sent to another client waits for its answer before the hub withdraws it"),
		maxClients:        fs.Int("max-clients", hub.DefaultMaxClients, "clients connected at once"),
		maxPerAddr:        fs.Int("max-per-addr", hub.DefaultMaxClientsPerAddr, "clients connected at once from one address (an IPv6 /64 counts as one address)"),
		maxStreams:        fs.Int("max-streams", hub.DefaultMaxStreamsTotal, "data streams open at once from all clients (each may hold up to 1 MiB of memory while nobody reads it)"),
		maxStreamsPerAddr: fs.Int("max-streams-per-addr", 0, "data streams open at once from the clients of one address; 0: 4 per client --max-per-addr allows (128 by default)"),
		chatRate:          fs.Int("chat-rate", hub.DefaultChatMessagesPerSecond, "chat and who messages per second per client (bursts of 5x)"),
		maxFiles:          fs.Int("max-files", hub.DefaultMaxFiles, "entries (files and folders) per offer"),
		reserveInodes:     fs.Int("reserve-inodes", -1, "inodes (files and folders) an offer must leave free; -1: 1% of the file system's, 0: none"),
		reserve:           64 << 20,
	}
	fs.Var(&sf.maxSize, "max-size", "bytes per offer, e.g. 10G (0: no limit)")
	fs.Var(&sf.reserve, "reserve", "free disk space an offer must leave, e.g. 1G")
	sf.keys = addKeyFlags(cmd)
	sf.members = fs.String("members", "", "admit only the identities listed in `FILE` (members-only: no access key)")
	sf.read = fs.String("read", hub.ReadOwn, "who may list and get the stored files (muxfer ls, get): own (each the files their identity\nuploaded), all (everyone everything), none")
	sf.shared = fs.StringSlice("shared", nil, "a `FOLDER` inside --dir that everyone may list and get, unless --read none (repeat or\nseparate with commas)")
	sf.hold = days(hub.DefaultHold)
	fs.Var(&sf.hold, "hold", "how long the hub keeps files held for people who were offline, e.g. 7d, 36h")
	sf.holdQuota = byteSize(hub.DefaultHoldQuota)
	fs.Var(&sf.holdQuota, "hold-quota", "sealed bytes the hub holds for one sender at most, e.g. 10G")
	_ = cmd.RegisterFlagCompletionFunc("read", cobra.FixedCompletions([]string{hub.ReadOwn, hub.ReadAll, hub.ReadNone}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("dir", folders)
	_ = cmd.RegisterFlagCompletionFunc("members", anyFile)
	cmd.RunE = func(*cobra.Command, []string) error { return sf.serve(e) }
	return cmd
}

// membersOnly checks that no access key is given with --members, and
// returns the hub's own identity, made on first use.
func (sf *serveFlags) membersOnly(e env) (*client.Identity, error) {
	if *sf.keys.insecure || *sf.keys.key != "" || *sf.keys.keyFile != "" || *sf.printKey {
		return nil, usageError{"--members takes no access key, --print-key or --insecure-no-tls"}
	}
	dir, err := client.ConfigDir(e.getenv)
	if err != nil {
		return nil, fmt.Errorf("keeping the hub's identity: %w", err)
	}
	id, _, err := client.IdentityFile(filepath.Join(dir, "hub-identity"))
	return id, err
}

// inodeReserve turns --reserve-inodes into hub.Limits.ReserveInodes:
// the flag's -1 (1% of the file system's) is the library's 0, the flag's 0
// (none) the library's -1.
func inodeReserve(flag int) int64 {
	switch {
	case flag < 0:
		return 0
	case flag == 0:
		return -1
	}
	return int64(flag)
}

// serve runs a hub until it fails or the process is interrupted.
func (sf *serveFlags) serve(e env) error {
	level := slog.LevelInfo
	if *sf.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	// Listening is what fails most often (the port is taken): before it,
	// nothing is created, neither the key nor the folder.
	ln, err := net.Listen("tcp", client.HubAddr(*sf.listen))
	if err != nil {
		return err
	}
	defer ln.Close()
	var keys access
	var key keySource
	var hubID *client.Identity
	if *sf.members != "" {
		if hubID, err = sf.membersOnly(e); err != nil {
			return err
		}
	} else if keys, key, err = sf.keys.access(e, true); err != nil {
		return err
	}
	noReserve := int64(sf.reserve)
	if noReserve == 0 {
		noReserve = -1 // the flag's 0 means none; the library's 0 means the default
	}
	h, err := hub.New(hub.Config{Dir: *sf.dir, Logger: log, Software: software(), Key: keys.Key, InsecureNoTLS: keys.InsecureNoTLS,
		MaxClients: *sf.maxClients, MaxClientsPerAddr: *sf.maxPerAddr,
		MaxStreamsTotal: *sf.maxStreams, MaxStreamsPerAddr: *sf.maxStreamsPerAddr, ChatMessagesPerSecond: *sf.chatRate, ChatBurst: 5 * *sf.chatRate,
		Offers:    hub.Limits{MaxFiles: *sf.maxFiles, MaxBytes: int64(sf.maxSize), Reserve: noReserve, ReserveInodes: inodeReserve(*sf.reserveInodes)},
		KeepParts: *sf.keepPartial, OfferTimeout: *sf.offerTimeout, MembersFile: *sf.members, HubIdentity: hubID.PrivateKey(),
		Read: *sf.read, Shared: *sf.shared, Hold: time.Duration(sf.hold), HoldQuota: int64(sf.holdQuota)})
	if err != nil {
		return err
	}
	if hubID != nil {
		stopReload := reloadOnHangup(h)
		defer stopReload()
	}
	abs, _ := filepath.Abs(*sf.dir)
	log.Info("muxfer hub listening", "addr", ln.Addr().String(), "dir", abs, "version", software(), "key", key.name)
	switch {
	case hubID != nil:
		log.Info("members-only hub", "members", *sf.members, "hub_key", client.Fingerprint(hubID.Public()))
		fmt.Fprintf(e.stdout, "muxfer chat %s --hub-key %s\n", reachableAddr(ln.Addr()), hex.EncodeToString(hubID.Public()))
	case keys.InsecureNoTLS:
		log.Warn("INSECURE: --insecure-no-tls: no encryption, no authentication; anyone who can reach this port can read and write")
	case key.created || *sf.printKey:
		// The one line a client needs, once: a service's log keeps
		// stdout, and the key is a secret. (--print-key shows it again.)
		fmt.Fprintf(e.stdout, "%s=%s muxfer chat %s\n", keyEnv, keys.Key.Text(), reachableAddr(ln.Addr()))
	}
	served := make(chan error, 1)
	go func() { served <- h.Serve(ln) }()
	select {
	case err = <-served:
	case <-e.ctx.Done():
		log.Info("shutting down", "grace", *sf.grace)
		gctx, cancel := context.WithTimeout(context.Background(), *sf.grace)
		if serr := h.Shutdown(gctx); serr != nil {
			log.Warn("grace period over; transfers still running were cut", "err", serr)
		}
		cancel()
	}
	h.Close()
	if err == nil {
		err = <-served
	}
	return err
}

// reachableAddr is the listening address as a client elsewhere would type
// it: this host's name in place of an unspecified IP.
func reachableAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	host, err := os.Hostname()
	if err != nil {
		host = "HOST"
	}
	return net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}

// byteSize is a flag holding a number of bytes, written with an optional
// binary suffix: 512K, 10M, 2G, 1T (or KiB, MiB...).
// days is a duration flag that also takes days: 7d, 1.5d, 36h, 90m.
type days time.Duration

func (d *days) String() string {
	if v := time.Duration(*d); v%(24*time.Hour) == 0 && v > 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	return time.Duration(*d).String()
}

// Type names the value in --help: --hold duration.
func (d *days) Type() string { return "duration" }

func (d *days) Set(s string) error {
	if n, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil || f <= 0 || f > 100*365 {
			return fmt.Errorf("not a number of days: %q (try 7d or 36h)", s)
		}
		*d = days(time.Duration(f * float64(24*time.Hour)))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("not a duration: %q (try 7d or 36h)", s)
	}
	*d = days(v)
	return nil
}

type byteSize int64

func (b *byteSize) String() string { return size(int64(*b)) }

// Type names the value in --help: --max-size size.
func (b *byteSize) Type() string { return "size" }

func (b *byteSize) Set(s string) error {
	n, err := parseSize(s)
	*b = byteSize(n)
	return err
}

func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	shift := 0
	if t != "" {
		if i := strings.IndexByte("KMGT", t[len(t)-1]); i >= 0 {
			shift = 10 * (i + 1)
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("not a size: %q (try 500M or 10G)", s)
	}
	return n << shift, nil
}
