package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/muxfer/muxfer/hub"
)

func runServe(e env, args []string) error {
	fs := newFlags(e, "serve", "serve [--listen ADDR] [--dir DIR] [--key-file FILE] [--verbose]\n\n"+
		"Without a key, the hub uses the one in its config directory (creating it on first start)\n"+
		"and prints the line clients need: MUXFER_KEY=... muxfer chat HOST:PORT",
		"  muxfer serve                               # listen on :7878, store uploads in ./muxfer-files\n"+
			"  muxfer serve --listen 127.0.0.1:9000 --dir /srv/drop --key-file /etc/muxfer/hub.key\n")
	listen := fs.String("listen", ":7878", "address to listen on")
	dir := fs.String("dir", "muxfer-files", "directory that uploads are stored in (created if missing)")
	verbose := fs.Bool("verbose", false, "log every stored file")
	keys := addKeyFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fs.Usage()
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	muxCfg, keySource, err := keys.muxConfig(e, true)
	if err != nil {
		return err
	}
	h, err := hub.New(hub.Config{Dir: *dir, Logger: log, Software: software(), Mux: muxCfg})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		h.Close()
		return err
	}
	abs, _ := filepath.Abs(*dir)
	log.Info("muxfer hub listening", "addr", ln.Addr().String(), "dir", abs, "version", software(), "key", keySource)
	if muxCfg.InsecureNoTLS {
		log.Warn("INSECURE: --insecure-no-tls: no encryption, no authentication; anyone who can reach this port can read and write")
	} else {
		fmt.Fprintf(e.stdout, "%s=%s muxfer chat %s\n", keyEnv, muxCfg.Key, reachableAddr(ln.Addr()))
	}
	served := make(chan error, 1)
	go func() { served <- h.Serve(ln) }()
	select {
	case err = <-served:
	case <-e.ctx.Done():
		log.Info("shutting down")
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
