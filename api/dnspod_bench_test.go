package api

import (
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/httpdns/httpdns/resolver"
)

// The DNSPod door's cache-hit cost beside /d's (each door's hit path within 15% of /d's), handlers
// alone, in one run:
//
//	go test ./api -run '^$' -bench 'BenchmarkD$|DNSPod' -benchmem

func dnspodBenchAPI(b *testing.B) *API {
	b.Helper()
	reg := prometheus.NewRegistry()
	a, err := New(Config{
		Resolver: fixedResolver{resolver.Answer{
			Name: "api.example.com", Qtype: resolver.TypeA, TTL: 57, OriginTTL: 60,
			IPs:   []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")},
			Scope: "192.0.2.0/24", Tier: "subnet", Source: "hit",
		}},
		DNSPod:     dnspodAccounts{"1234": {DES: "dnspodpass"}},
		Registerer: reg, Gatherer: reg,
	})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkDNSPodPlain is a cache-hit /d?dn= in the plain mode, as the SDKs ask it.
func BenchmarkDNSPodPlain(b *testing.B) {
	serveLoop(b, dnspodBenchAPI(b).Public(), "/d?dn=api.example.com&ttl=1&clientip=1&ip=")
}

// BenchmarkDNSPodDES is a cache-hit /d?dn= in the DES mode: dn decrypted, the answer encrypted.
func BenchmarkDNSPodDES(b *testing.B) {
	c, err := newDESECB(desKey("dnspodpass"))
	if err != nil {
		b.Fatal(err)
	}
	serveLoop(b, dnspodBenchAPI(b).Public(), "/d?dn="+c.encrypt([]byte("api.example.com"))+"&id=1234&ttl=1&clientip=1")
}
