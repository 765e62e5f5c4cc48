package hub

import (
	"net"
	"testing"
)

// TestSourceCountsIPv4ByAddressAndIPv6ByNetwork: connections are counted
// per IPv4 address and per IPv6 /64, an IPv4 address written as IPv6 is
// the IPv4 address, and what is not IP is not counted.
func TestSourceCountsIPv4ByAddressAndIPv6ByNetwork(t *testing.T) {
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 4242} }
	tests := []struct {
		name   string
		a, b   net.Addr
		same   bool
		string string // a's source as logged
	}{
		{"two IPv4 addresses", tcp("192.0.2.7"), tcp("192.0.2.8"), false, "192.0.2.7"},
		{"one IPv4 address, two ports", tcp("192.0.2.7"), &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, true, "192.0.2.7"},
		{"IPv4 and IPv4-mapped IPv6", tcp("192.0.2.7"), tcp("::ffff:192.0.2.7"), true, "192.0.2.7"},
		{"two hosts of one IPv6 /64", tcp("2001:db8:1:2::1"), tcp("2001:db8:1:2:ffff::9"), true, "2001:db8:1:2::/64"},
		{"two IPv6 /64s", tcp("2001:db8:1:2::1"), tcp("2001:db8:1:3::1"), false, "2001:db8:1:2::/64"},
		{"an IPv6 zone is not part of the source", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0"}, tcp("fe80::2"), true, "fe80::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := sourceOf(tt.a), sourceOf(tt.b)
			if (a == b) != tt.same {
				t.Errorf("%v is %v and %v is %v: same %v, want %v", tt.a, a, tt.b, b, a == b, tt.same)
			}
			if a.String() != tt.string {
				t.Errorf("%v: source %q, want %q", tt.a, a, tt.string)
			}
		})
	}
}

// TestPerSourceBoundsEachSourceAlone: each source holds at most the limit,
// whatever the others hold; a release makes room again; a connection that
// is not IP is never refused.
func TestPerSourceBoundsEachSourceAlone(t *testing.T) {
	var c perSource
	x := sourceOf(&net.TCPAddr{IP: net.ParseIP("192.0.2.1")})
	y := sourceOf(&net.TCPAddr{IP: net.ParseIP("192.0.2.2")})
	pipe := sourceOf(&net.UnixAddr{Name: "@hub", Net: "unix"})
	steps := []struct {
		src     source
		release bool
		want    bool // take's answer
	}{
		{src: x, want: true},
		{src: x, want: true},
		{src: x, want: false},
		{src: y, want: true},
		{src: y, want: true},
		{src: x, release: true},
		{src: x, want: true},
		{src: x, want: false},
		{src: pipe, want: true},
		{src: pipe, want: true},
		{src: pipe, want: true},
	}
	for i, s := range steps {
		if s.release {
			c.release(s.src)
			continue
		}
		if got := c.take(s.src, 2); got != s.want {
			t.Fatalf("step %d: take(%v) = %v, want %v", i, s.src, got, s.want)
		}
	}
	for _, s := range []source{x, x, y, y} {
		c.release(s)
	}
	if len(c.held) != 0 {
		t.Errorf("after every release, still held: %v", c.held)
	}
}
