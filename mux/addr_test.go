package mux

import "testing"

func TestHubAddrAddsTheDefaultPort(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"hub.example", "hub.example:7878"},
		{"hub.example:9000", "hub.example:9000"},
		{"hub.example:", "hub.example:7878"},
		{"10.0.0.1", "10.0.0.1:7878"},
		{"10.0.0.1:1", "10.0.0.1:1"},
		{"[::1]", "[::1]:7878"},
		{"::1", "[::1]:7878"},
		{"[::1]:9000", "[::1]:9000"},
		{"fe80::1%eth0", "[fe80::1%eth0]:7878"},
		{"[fe80::1%eth0]:9000", "[fe80::1%eth0]:9000"},
		// Left for the dialer to refuse, as it would have before.
		{"", ""},
		{"[::1", "[::1"},
		{"[hub.example]", "[hub.example]"},
		{"a:b:c", "a:b:c"},
	} {
		if got := HubAddr(tt.in); got != tt.want {
			t.Errorf("HubAddr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
