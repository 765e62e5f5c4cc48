package main

import "runtime/debug"

// With Go's default GOGC=100 the collector ran whenever the heap doubled,
// and took about 15% of both ends' CPU sending 5,000 small files: the
// live heap is small (a few MB), so it doubles often. muxfer collects at
// five times the live heap instead (GOGC=400), and bounds what that may
// cost with a soft memory limit (GOMEMLIMIT), below which the promises of
// README.md's Memory section stay: 48 MiB for a client, whose live heap
// is a few MB, and 192 MiB for a hub, which with 1,000 idle clients
// peaked at 138 MB RSS. The environment's GOGC and GOMEMLIMIT, when set,
// win.

// gcLimit is the soft memory limit of the command args runs.
func gcLimit(args []string) int64 {
	if len(args) > 0 && (args[0] == "serve" || args[0] == "demo") {
		return 192 << 20
	}
	return 48 << 20
}

// tuneGC sets the collector as above for the command args runs.
func tuneGC(getenv func(string) string, args []string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(gcLimit(args))
	}
}
