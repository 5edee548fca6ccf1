package api

import (
	"net/http"
	"net/netip"
	"slices"
	"testing"

	"github.com/httpdns/httpdns/resolver"
)

func TestClientAddress(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8:f::/48"),
		netip.MustParsePrefix("::ffff:172.16.0.0/108"), // IPv4-mapped: trusts 172.16.0.0/12
	}
	xff := func(vals ...string) []func(*http.Request) {
		var edits []func(*http.Request)
		for _, v := range vals {
			edits = append(edits, withHeader("X-Forwarded-For", v))
		}
		return edits
	}
	tests := []struct {
		name, peer, query string
		xff               []string
		want              string
	}{
		{"peer", "203.0.113.9:5555", "", nil, "203.0.113.9"},
		{"IPv6 peer", "[2001:db8::7]:5555", "", nil, "2001:db8::7"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.9]:5555", "", nil, "203.0.113.9"},
		{"link-local peer loses its zone", "[fe80::1%eth0]:5555", "", nil, "fe80::1"},
		{"unix socket peer", "@", "", nil, ""},
		{"ip= wins", "203.0.113.9:5555", "&ip=198.51.100.4", nil, "198.51.100.4"},
		{"ip= IPv6", "203.0.113.9:5555", "&ip=2001:db8:1::1", nil, "2001:db8:1::1"},
		{"ip= mapped is unmapped", "203.0.113.9:5555", "&ip=::ffff:198.51.100.4", nil, "198.51.100.4"},
		{"empty ip= is absent", "203.0.113.9:5555", "&ip=", nil, "203.0.113.9"},
		{"ip= beats XFF", "10.0.0.1:1", "&ip=198.51.100.4", []string{"1.1.1.1"}, "198.51.100.4"},
		{"untrusted peer's XFF ignored", "203.0.113.9:5555", "", []string{"1.1.1.1"}, "203.0.113.9"},
		{"trusted peer's XFF", "10.0.0.1:1", "", []string{"1.1.1.1"}, "1.1.1.1"},
		{"rightmost untrusted", "10.0.0.1:1", "", []string{"9.9.9.9, 1.1.1.1, 10.2.3.4"}, "1.1.1.1"},
		{"over several lines", "10.0.0.1:1", "", []string{"9.9.9.9, 1.1.1.1", "10.2.3.4"}, "1.1.1.1"},
		{"client garbage on the left", "10.0.0.1:1", "", []string{"not-an-ip, 1.1.1.1"}, "1.1.1.1"},
		{"malformed on the walk: peer", "10.0.0.1:1", "", []string{"1.1.1.1, bogus"}, "10.0.0.1"},
		{"empty entry on the walk: peer", "10.0.0.1:1", "", []string{"1.1.1.1,"}, "10.0.0.1"},
		{"zone in XFF: peer", "10.0.0.1:1", "", []string{"fe80::1%eth0"}, "10.0.0.1"},
		{"all trusted: leftmost", "10.0.0.1:1", "", []string{"10.9.9.9, 10.2.3.4"}, "10.9.9.9"},
		{"entry with port", "10.0.0.1:1", "", []string{"1.1.1.1:4711"}, "1.1.1.1"},
		{"IPv6 entry with port", "10.0.0.1:1", "", []string{"[2001:db8::9]:4711"}, "2001:db8::9"},
		{"IPv6 trusted peer", "[2001:db8:f::1]:1", "", []string{"2001:db8:2::5"}, "2001:db8:2::5"},
		{"mapped trusted prefix", "172.16.5.5:1", "", []string{"1.1.1.1"}, "1.1.1.1"},
		{"mapped XFF entry", "10.0.0.1:1", "", []string{"::ffff:1.1.1.1"}, "1.1.1.1"},
	}
	ta := newTestAPI(t, Config{TrustedProxies: trusted})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			edits := append(xff(tt.xff...), fromPeer(tt.peer))
			w := get(ta.Public(), "/d?host=api.example.com"+tt.query, edits...)
			d := decodeD(t, w.Body.Bytes())
			if d.ClientIP != tt.want {
				t.Errorf("client_ip %q, want %q", d.ClientIP, tt.want)
			}
			if tt.want == "" {
				return
			}
			// The resolver was asked for that client: the fake's addresses depend on its /24.
			if want := fakeIPs("api.example.com", resolver.TypeA, tt.want); !slices.Equal(*d.IPs, want) {
				t.Errorf("ips %v, want %v (answered for another client?)", *d.IPs, want)
			}
		})
	}
}

func TestClientAddressNoTrustedProxies(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	w := get(ta.Public(), "/d?host=api.example.com", fromPeer("10.0.0.1:1"), withHeader("X-Forwarded-For", "1.1.1.1"))
	if d := decodeD(t, w.Body.Bytes()); d.ClientIP != "10.0.0.1" {
		t.Errorf("client_ip %q: XFF believed with no trusted proxies", d.ClientIP)
	}
}

func TestNewRejectsInvalidTrustedProxy(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Resolver: &fakeResolver{}, TrustedProxies: []netip.Prefix{{}}})
	if err == nil {
		t.Fatal("New accepted an invalid prefix")
	}
}
