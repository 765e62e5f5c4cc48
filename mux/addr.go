package mux

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultPort is the port a hub listens on unless told otherwise, and the
// one an address without a port means.
const DefaultPort = 7878

// HubAddr returns addr with DefaultPort added if it names no port:
//
//	hub.example      → hub.example:7878
//	hub.example:9000 → hub.example:9000
//	10.0.0.1         → 10.0.0.1:7878
//	[::1]            → [::1]:7878
//	::1              → [::1]:7878  (a bare IPv6 address is all address)
//	[::1]:9000       → [::1]:9000
//
// Anything else it leaves for the dialer to refuse.
func HubAddr(addr string) string {
	port := strconv.Itoa(DefaultPort)
	if host, p, err := net.SplitHostPort(addr); err == nil {
		if p == "" { // "hub.example:"
			return net.JoinHostPort(host, port)
		}
		return addr
	}
	if h, ok := strings.CutPrefix(addr, "["); ok {
		if h, ok := strings.CutSuffix(h, "]"); ok && isIP(h) {
			return net.JoinHostPort(h, port)
		}
		return addr
	}
	if addr != "" && (!strings.Contains(addr, ":") || isIP(addr)) {
		return net.JoinHostPort(addr, port)
	}
	return addr
}

// isIP reports whether s is an IP address, IPv6 with a zone too (fe80::1%eth0).
func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
