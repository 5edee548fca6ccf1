package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/httpdns/httpdns/internal/dnstest"
	"github.com/miekg/dns"
)

// wireLoc puts every client in its /24 block in one city.
type wireLoc struct{}

func (wireLoc) Locate(a netip.Addr) cidrdb.Location {
	p, _ := a.Prefix(dnsmsg.SourceBits(a))
	return cidrdb.Location{Addr: a, Block: p, Network: p, Country: "XX", City: "C", ISP: "I"}
}

type wirePolicy struct{}

func (wirePolicy) Lookup(string) Rule { return Rule{Tier: cache.TierSubnet} }

// newWireResolver is a resolver of the subnet tier (wireLoc, wirePolicy) asking a real DNS server
// on 127.0.0.1 that answers as rec says, closed at cleanup.
func newWireResolver(t *testing.T, rec *dnstest.Recorder) *Resolver {
	t.Helper()
	c, err := cache.New(cache.Config{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r, err := New(Config{Upstreams: []string{dnstest.Start(t, rec)}, Locator: wireLoc{}, Cache: c, Policy: wirePolicy{},
		HedgeMin: -1, SweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestUpstreamQueryOnTheWire resolves through a real DNS server on 127.0.0.1 and checks what the
// resolver sends (EDNS UDP size 1232; ECS only for a client that may be sent) and keeps (of 60
// addresses, 10 of them repeated, the 32 lowest, sorted and unique).
func TestUpstreamQueryOnTheWire(t *testing.T) {
	t.Parallel()
	rec := &dnstest.Recorder{Reply: func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		for i := range 70 {
			rr, _ := dns.NewRR(fmt.Sprintf("%s 60 IN A 10.0.0.%d", q.Question[0].Name, 60-i%60))
			m.Answer = append(m.Answer, rr)
		}
		if e := dnsmsg.ECS(q); e != nil {
			m.SetEdns0(dnsmsg.UDPSize, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, e)
		}
		return m
	}}
	r := newWireResolver(t, rec)

	for i, tt := range []struct {
		client string
		ecs    string // "" for none
	}{
		{"20.1.2.3", "20.1.2.0/24/0"},
		{"100.64.1.2", ""}, // CGNAT: answered, without ECS
		{"2001:da8:1:2ff::1", "[2001:da8:1:200::]/56/0"},
	} {
		name := fmt.Sprintf("n%d.wire.test", i)
		a, err := r.Resolve(context.Background(), Query{Name: name, Qtype: TypeA, Client: netip.MustParseAddr(tt.client)})
		if err != nil {
			t.Fatalf("%s: %v", tt.client, err)
		}
		if len(a.IPs) != dnsmsg.MaxAddrs || a.IPs[0] != netip.MustParseAddr("10.0.0.1") ||
			!slices.IsSortedFunc(a.IPs, netip.Addr.Compare) || len(slices.Compact(slices.Clone(a.IPs))) != len(a.IPs) {
			t.Errorf("%s: kept %v, want the 32 lowest of 60, sorted and unique", tt.client, a.IPs)
		}
		qs := rec.Queries()
		q := qs[len(qs)-1]
		if q.Question[0].Name != name+"." {
			t.Fatalf("last query %s, want %s", q.Question[0].Name, name)
		}
		opt := q.IsEdns0()
		if opt == nil || opt.UDPSize() != 1232 {
			t.Errorf("%s: query OPT %v, want EDNS UDP size 1232", tt.client, opt)
		}
		got := ""
		if e := dnsmsg.ECS(q); e != nil {
			got = e.String()
		}
		if got != tt.ecs {
			t.Errorf("%s: ECS %q, want %q", tt.client, got, tt.ecs)
		}
	}
}
