package main

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/muxfer/muxfer/hub"
)

func runServe(e env, args []string) error {
	fs := newFlags(e, "serve", "serve [--listen ADDR] [--dir DIR] [--verbose]",
		"  muxfer serve                               # listen on :7878, store uploads in ./muxfer-files\n"+
			"  muxfer serve --listen 127.0.0.1:9000 --dir /srv/drop\n")
	listen := fs.String("listen", ":7878", "address to listen on")
	dir := fs.String("dir", "muxfer-files", "directory that uploads are stored in (created if missing)")
	verbose := fs.Bool("verbose", false, "log every stored file")
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
	h, err := hub.New(hub.Config{Dir: *dir, Logger: log, Software: software()})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		h.Close()
		return err
	}
	abs, _ := filepath.Abs(*dir)
	log.Info("muxfer hub listening", "addr", ln.Addr().String(), "dir", abs, "version", software())
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
