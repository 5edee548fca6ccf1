package resolver

import (
	"net/netip"
	"testing"

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

func TestECSSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		client string
		want   string
	}{
		{"1.2.3.4", "1.2.3.0/24"},
		{"2001:db8:1:2ff::1", "2001:db8:1:200::/56"},
		{"10.1.2.3", ""},
		{"192.168.1.1", ""},
		{"127.0.0.1", ""},
		{"::1", ""},
		{"fe80::1", ""},
		{"fd00::1", ""},
		{"0.0.0.0", ""},
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

func TestValidateReplyECS(t *testing.T) {
	t.Parallel()
	q := newQuery("a.test", dns.TypeA, netip.MustParsePrefix("1.2.3.0/24"))
	reply := func(mut func(e *dns.EDNS0_SUBNET)) *dns.Msg {
		r := newQuery("a.test", dns.TypeA, netip.MustParsePrefix("1.2.3.0/24"))
		r.Response = true
		mut(ecsOf(r))
		return r
	}
	if err := validateReply(q, reply(func(e *dns.EDNS0_SUBNET) { e.SourceScope = 20 })); err != nil {
		t.Errorf("good echo rejected: %v", err)
	}
	bad := map[string]func(e *dns.EDNS0_SUBNET){
		"family":  func(e *dns.EDNS0_SUBNET) { e.Family = 2 },
		"source":  func(e *dns.EDNS0_SUBNET) { e.SourceNetmask = 16 },
		"address": func(e *dns.EDNS0_SUBNET) { e.Address[2] = 9 },
		"scope":   func(e *dns.EDNS0_SUBNET) { e.SourceScope = 33 },
	}
	for name, mut := range bad {
		if err := validateReply(q, reply(mut)); err == nil {
			t.Errorf("%s mismatch accepted", name)
		}
	}
	other := q.Copy()
	other.Question[0].Name = "b.test."
	if err := validateReply(q, other); err == nil {
		t.Error("reply to another question accepted")
	}
}
