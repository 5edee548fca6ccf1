package dnsmsg

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

func TestParse(t *testing.T) {
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
		{"plain A, sorted", dns.TypeA, 0, []string{"a.test. 120 IN A 1.2.3.5", "a.test. 100 IN A 1.2.3.4"}, nil,
			[]string{"1.2.3.4", "1.2.3.5"}, 100, false},
		{"duplicates kept once", dns.TypeA, 0, []string{"a.test. 60 IN A 1.2.3.4", "a.test. 60 IN A 1.2.3.5", "a.test. 30 IN A 1.2.3.4"}, nil,
			[]string{"1.2.3.4", "1.2.3.5"}, 30, false},
		{"owner case ignored", dns.TypeA, 0, []string{"A.Test. 60 IN A 1.2.3.4"}, nil, []string{"1.2.3.4"}, 60, false},
		{"CNAME chain takes smallest TTL", dns.TypeA, 0, []string{
			"a.test. 300 IN CNAME b.test.", "b.test. 40 IN CNAME c.test.", "c.test. 200 IN A 9.9.9.9"}, nil,
			[]string{"9.9.9.9"}, 40, false},
		{"CNAME chain out of order", dns.TypeA, 0, []string{
			"c.test. 200 IN A 9.9.9.9", "b.test. 40 IN CNAME C.test.", "a.test. 300 IN CNAME b.test."}, nil,
			[]string{"9.9.9.9"}, 40, false},
		{"first of two CNAMEs wins", dns.TypeA, 0, []string{
			"a.test. 300 IN CNAME b.test.", "a.test. 300 IN CNAME c.test.", "b.test. 60 IN A 2.2.2.2", "c.test. 60 IN A 3.3.3.3"}, nil,
			[]string{"2.2.2.2"}, 60, false},
		{"first of two CNAMEs wins, reversed", dns.TypeA, 0, []string{
			"a.test. 300 IN CNAME c.test.", "a.test. 300 IN CNAME b.test.", "b.test. 60 IN A 2.2.2.2", "c.test. 60 IN A 3.3.3.3"}, nil,
			[]string{"3.3.3.3"}, 60, false},
		{"AAAA", dns.TypeAAAA, 0, []string{"a.test. 60 IN AAAA 2001:db8::1", "a.test. 60 IN A 1.1.1.1"}, nil, []string{"2001:db8::1"}, 60, false},
		{"A records of other names ignored", dns.TypeA, 0, []string{"x.test. 60 IN A 1.1.1.1"}, []string{soa}, nil, 60, true},
		{"NXDOMAIN uses SOA minimum", dns.TypeA, dns.RcodeNameError, nil, []string{soa}, nil, 60, true},
		{"NODATA uses SOA TTL when smaller", dns.TypeAAAA, 0, nil,
			[]string{"shop.test. 30 IN SOA ns.shop.test. host.shop.test. 1 3600 600 86400 60"}, nil, 30, true},
		{"no SOA uses default", dns.TypeA, dns.RcodeNameError, nil, nil, nil, 77, true},
		{"dangling CNAME", dns.TypeA, 0, []string{"a.test. 20 IN CNAME gone.test."}, []string{soa}, nil, 20, true},
		{"records of another class ignored", dns.TypeA, 0, []string{"a.test. 10 CH A 6.6.6.6", "a.test. 60 IN A 1.2.3.4"}, nil,
			[]string{"1.2.3.4"}, 60, false},
		{"CNAME of another class not followed", dns.TypeA, 0, []string{"a.test. 10 CH CNAME b.test.", "b.test. 60 IN A 2.2.2.2"},
			[]string{soa}, nil, 60, true},
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
			r := Parse(m, "a.test", tt.qtype, 77)
			var want []netip.Addr
			for _, s := range tt.ips {
				want = append(want, netip.MustParseAddr(s))
			}
			if r.TTL != tt.ttl || r.Negative != tt.negative || !slices.Equal(r.IPs, want) || r.Scope != -1 || r.Rcode != tt.rcode {
				t.Fatalf("got %+v, want ips %v ttl %d negative %v", r, want, tt.ttl, tt.negative)
			}
		})
	}
}

// TestParseCaps checks the reply limits: of 1000 addresses the 32 lowest are kept, whatever their
// order in the reply.
func TestParseCaps(t *testing.T) {
	t.Parallel()
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m := new(dns.Msg)
		m.SetQuestion("a.test.", qtype)
		for i := 999; i >= 0; i-- {
			if qtype == dns.TypeA {
				m.Answer = append(m.Answer, mustRR(t, fmt.Sprintf("a.test. 60 IN A 10.0.%d.%d", i/256, i%256)))
			} else {
				m.Answer = append(m.Answer, mustRR(t, fmt.Sprintf("a.test. 60 IN AAAA 2001:db8::%x", i)))
			}
			m.Answer = append(m.Answer, m.Answer[len(m.Answer)-1]) // every address twice
		}
		r := Parse(m, "a.test.", qtype, 60)
		if len(r.IPs) != MaxAddrs || cap(r.IPs) != MaxAddrs {
			t.Fatalf("qtype %d: kept %d addresses (cap %d), want %d", qtype, len(r.IPs), cap(r.IPs), MaxAddrs)
		}
		if !slices.IsSortedFunc(r.IPs, netip.Addr.Compare) || slices.Compact(slices.Clone(r.IPs)) == nil ||
			len(slices.Compact(slices.Clone(r.IPs))) != MaxAddrs {
			t.Fatalf("qtype %d: not sorted and unique: %v", qtype, r.IPs)
		}
		first := "10.0.0.0"
		if qtype == dns.TypeAAAA {
			first = "2001:db8::"
		}
		if r.IPs[0] != netip.MustParseAddr(first) {
			t.Errorf("qtype %d: first kept %s, want the lowest, %s", qtype, r.IPs[0], first)
		}
	}
}

func TestParseScope(t *testing.T) {
	t.Parallel()
	q := NewQuery("a.test", dns.TypeA, netip.MustParsePrefix("1.2.3.0/24"))
	r := replyTo(q, nil)
	r.Answer = append(r.Answer, mustRR(t, "a.test. 60 IN A 1.1.1.1"))
	if got := Parse(r, "a.test", dns.TypeA, 60).Scope; got != 20 {
		t.Errorf("scope %d, want 20", got)
	}
	r.IsEdns0().Option = nil
	if got := Parse(r, "a.test", dns.TypeA, 60).Scope; got != -1 {
		t.Errorf("scope %d without ECS, want -1", got)
	}
}
