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

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

func TestParseReply(t *testing.T) {
	t.Parallel()
	soa := "shop.test. 300 IN SOA ns.shop.test. host.shop.test. 1 3600 600 86400 60"
	tests := []struct {
		name     string
		qtype    uint16
		rcode    int
		answer   []string
		ns       []string
		ips      []string
		ttl      uint32
		negative bool
	}{
		{"plain A", dns.TypeA, 0, []string{"a.test. 120 IN A 1.2.3.5", "a.test. 100 IN A 1.2.3.4"}, nil,
			[]string{"1.2.3.4", "1.2.3.5"}, 100, false},
		{"duplicates once", dns.TypeA, 0, []string{"a.test. 120 IN A 1.2.3.5", "a.test. 100 IN A 1.2.3.4", "a.test. 100 IN A 1.2.3.5"}, nil,
			[]string{"1.2.3.4", "1.2.3.5"}, 100, false},
		{"CNAME chain takes smallest TTL", dns.TypeA, 0, []string{
			"a.test. 300 IN CNAME b.test.", "b.test. 40 IN CNAME c.test.", "c.test. 200 IN A 9.9.9.9"}, nil,
			[]string{"9.9.9.9"}, 40, false},
		{"AAAA", dns.TypeAAAA, 0, []string{"a.test. 60 IN AAAA 2001:db8::1"}, nil, []string{"2001:db8::1"}, 60, false},
		{"A records of other names ignored", dns.TypeA, 0, []string{"x.test. 60 IN A 1.1.1.1"}, []string{soa}, nil, 60, true},
		{"NXDOMAIN uses SOA minimum", dns.TypeA, dns.RcodeNameError, nil, []string{soa}, nil, 60, true},
		{"NODATA uses SOA TTL when smaller", dns.TypeAAAA, 0, nil,
			[]string{"shop.test. 30 IN SOA ns.shop.test. host.shop.test. 1 3600 600 86400 60"}, nil, 30, true},
		{"no SOA uses default", dns.TypeA, dns.RcodeNameError, nil, nil, nil, 77, true},
		{"dangling CNAME", dns.TypeA, 0, []string{"a.test. 20 IN CNAME gone.test."}, []string{soa}, nil, 20, true},
		{"CNAME loop ends", dns.TypeA, 0, []string{"a.test. 20 IN CNAME b.test.", "b.test. 20 IN CNAME a.test."}, nil, nil, 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := new(dns.Msg)
			m.SetQuestion("a.test.", tt.qtype)
			m.Rcode = tt.rcode
			for _, s := range tt.answer {
				m.Answer = append(m.Answer, mustRR(t, s))
			}
			for _, s := range tt.ns {
				m.Ns = append(m.Ns, mustRR(t, s))
			}
			p := parseReply(m, "a.test", tt.qtype, 77)
			if p.ttl != tt.ttl || p.negative != tt.negative || len(p.ips) != len(tt.ips) || p.scope != -1 {
				t.Fatalf("got %+v, want ips %v ttl %d negative %v", p, tt.ips, tt.ttl, tt.negative)
			}
			for i, s := range tt.ips {
				if p.ips[i] != netip.MustParseAddr(s) {
					t.Errorf("ips[%d] = %v, want %s", i, p.ips[i], s)
				}
			}
		})
	}
}

// TestECSSource checks the privacy filter the resolver applies (dnsmsg.Source; its own tests cover
// every range): the special-purpose ranges that used to slip through never produce ECS.
func TestECSSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		client string
		want   string
	}{
		{"1.2.3.4", "1.2.3.0/24"},
		{"2001:da8:1:2ff::1", "2001:da8:1:200::/56"},
		{"10.1.2.3", ""},
		{"192.168.1.1", ""},
		{"127.0.0.1", ""},
		{"::1", ""},
		{"fe80::1", ""},
		{"fd00::1", ""},
		{"0.0.0.0", ""},
		{"100.64.1.2", ""},                           // CGNAT
		{"192.0.2.1", ""},                            // documentation
		{"198.18.0.1", ""},                           // benchmarking
		{"240.0.0.1", ""},                            // reserved
		{"0.1.2.3", ""},                              // this network
		{"2001:db8:1:2ff::1", ""},                    // documentation
		{"fec0::1", ""},                              // site-local
		{"2002:a00:1::1", ""},                        // 6to4 of 10.0.0.1
		{"64:ff9b::a00:1", ""},                       // NAT64 of 10.0.0.1
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", ""}, // Teredo
	}
	for _, tt := range tests {
		got := ecsSource(netip.MustParseAddr(tt.client))
		if (tt.want == "" && got.IsValid()) || (tt.want != "" && got.String() != tt.want) {
			t.Errorf("ecsSource(%s) = %v, want %q", tt.client, got, tt.want)
		}
	}
	if ecsSource(netip.Addr{}).IsValid() {
		t.Error("zero address got an ECS source")
	}
}

// wireLoc puts every client in its /24 block in one city.
type wireLoc struct{}

func (wireLoc) Locate(a netip.Addr) cidrdb.Location {
	p, _ := a.Prefix(dnsmsg.SourceBits(a))
	return cidrdb.Location{Addr: a, Block: p, Network: p, Country: "XX", City: "C", ISP: "I"}
}

type wirePolicy struct{}

func (wirePolicy) Lookup(string) Rule { return Rule{Tier: cache.TierSubnet} }

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
