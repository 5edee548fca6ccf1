package cdnsim_test

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// query builds a question with an EDNS OPT of udpSize (none when 0) carrying ecs (none when invalid).
func query(name string, qtype uint16, ecs netip.Prefix, udpSize uint16) *dns.Msg {
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	if udpSize == 0 {
		return m
	}
	m.SetEdns0(udpSize, false)
	if ecs.IsValid() {
		family := uint16(1)
		if ecs.Addr().Is6() {
			family = 2
		}
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family,
			SourceNetmask: uint8(ecs.Bits()), Address: ecs.Masked().Addr().AsSlice()})
	}
	return m
}

// exchange sends m to addr over network ("udp" or "tcp") and fails the test on error.
func exchange(t *testing.T, network, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	r, err := tryExchange(network, addr, m, 2*time.Second)
	if err != nil {
		t.Fatalf("%s exchange of %s: %v", network, m.Question[0].Name, err)
	}
	return r
}

func tryExchange(network, addr string, m *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: timeout, UDPSize: dns.MaxMsgSize}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// replyECS returns the ECS option of a reply, or nil.
func replyECS(r *dns.Msg) *dns.EDNS0_SUBNET {
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_SUBNET); ok {
				return e
			}
		}
	}
	return nil
}

// addresses returns the A and AAAA records of a reply's answer section, sorted.
func addresses(r *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			a, _ := netip.AddrFromSlice(rr.A.To4())
			out = append(out, a)
		case *dns.AAAA:
			a, _ := netip.AddrFromSlice(rr.AAAA)
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func TestServerMatchesWorld(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	s := cdnsim.StartTest(t, w)
	subnets := w.Subnets()
	v6 := w.Regions()[2].Prefixes[len(w.Regions()[2].Prefixes)-1]
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			for i, d := range w.Domains() {
				for _, bits := range []int{16, 20, 24, 26, 32} {
					client := w.ClientIn(subnets[(i*131+bits*17)%len(subnets)], i)
					checkServer(t, w, s, network, d, pfx(client, bits))
					if bits == 32 && !slices.Equal(addresses(exchange(t, network, s.Addr(), query(d.Name, dns.TypeA, pfx(client, 32), 4096))),
						w.Truth(d.Name, dns.TypeA, client)) {
						t.Errorf("%s /32 answer differs from Truth", d.Name)
					}
				}
				checkServer(t, w, s, network, d, pfx(w.ClientIn(v6, i), 56))
			}
		})
	}
}

// checkServer asks s for d with ecs and compares the reply with the world's Answer.
func checkServer(t *testing.T, w *cdnsim.World, s *cdnsim.Server, network string, d cdnsim.Domain, ecs netip.Prefix) {
	t.Helper()
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		q := query(d.Name, qtype, ecs, 4096)
		r := exchange(t, network, s.Addr(), q)
		ips, scope, ttl, rcode := w.Answer(d.Name, qtype, ecs)
		if r.Rcode != rcode || !r.Authoritative || r.Id != q.Id || r.Question[0] != q.Question[0] {
			t.Fatalf("%s %d %s: rcode %d AA %v question %v; want rcode %d, AA, the question copied",
				d.Name, qtype, ecs, r.Rcode, r.Authoritative, r.Question, rcode)
		}
		if got := addresses(r); !slices.Equal(got, ips) {
			t.Errorf("%s %d %s: server %v, Answer %v", d.Name, qtype, ecs, got, ips)
		}
		e := replyECS(r)
		if e == nil || int(e.SourceScope) != scope || int(e.SourceNetmask) != ecs.Bits() ||
			!e.Address.Equal(net.IP(ecs.Addr().AsSlice())) {
			t.Errorf("%s %d %s: ECS echo %v, want scope %d", d.Name, qtype, ecs, e, scope)
		}
		for _, rr := range r.Answer {
			if rr.Header().Ttl < ttl {
				t.Errorf("%s %d: record TTL %d below the chain's smallest %d", d.Name, qtype, rr.Header().Ttl, ttl)
			}
		}
	}
}

func TestServerMessages(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	s := cdnsim.StartTest(t, w)
	ecs := pfx(w.ClientIn(w.Subnets()[7], 0), 24)
	tests := []struct {
		name      string
		q         *dns.Msg
		wantRcode int
		wantAA    bool
		wantAns   []uint16 // answer record types in order
		wantNs    []uint16
		wantOPT   bool
		wantECS   bool
	}{
		{"no edns", query("img.cdn-a.test", dns.TypeA, netip.Prefix{}, 0), dns.RcodeSuccess, true, []uint16{dns.TypeA}, nil, false, false},
		{"edns without ecs", query("img.cdn-a.test", dns.TypeA, netip.Prefix{}, 1232), dns.RcodeSuccess, true, []uint16{dns.TypeA}, nil, true, false},
		{"cname chain", query("WWW.Shop.test", dns.TypeA, ecs, 1232), dns.RcodeSuccess, true, []uint16{dns.TypeCNAME, dns.TypeA}, nil, true, true},
		{"nxdomain", query("nope.cdn-a.test", dns.TypeA, ecs, 1232), dns.RcodeNameError, true, nil, []uint16{dns.TypeSOA}, true, true},
		{"nodata", query("ntp.portal.test", dns.TypeAAAA, ecs, 1232), dns.RcodeSuccess, true, nil, []uint16{dns.TypeSOA}, true, true},
		{"other type", query("img.cdn-a.test", dns.TypeTXT, ecs, 1232), dns.RcodeSuccess, true, nil, []uint16{dns.TypeSOA}, true, true},
		{"apex soa", query("test", dns.TypeSOA, netip.Prefix{}, 0), dns.RcodeSuccess, true, []uint16{dns.TypeSOA}, nil, false, false},
		{"outside zone", query("example.com", dns.TypeA, ecs, 1232), dns.RcodeRefused, false, nil, nil, true, true},
		{"bad edns version", badVersion(query("img.cdn-a.test", dns.TypeA, ecs, 1232)), dns.RcodeBadVers, false, nil, nil, true, false},
		{"ecs bits past source", rawECS("img.cdn-a.test", []byte{0, 1, 24, 0, 20, 0, 0, 5}), dns.RcodeFormatError, false, nil, nil, true, false},
		{"not a query", notify("img.cdn-a.test"), dns.RcodeNotImplemented, false, nil, nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, network := range []string{"udp", "tcp"} {
				r := exchange(t, network, s.Addr(), tt.q)
				if r.Rcode != tt.wantRcode || r.Authoritative != tt.wantAA || !slices.Equal(types(r.Answer), tt.wantAns) ||
					!slices.Equal(types(r.Ns), tt.wantNs) || (r.IsEdns0() != nil) != tt.wantOPT || (replyECS(r) != nil) != tt.wantECS {
					t.Errorf("%s: rcode %d AA %v answer %v ns %v opt %v ecs %v; want %d %v %v %v %v %v", network,
						r.Rcode, r.Authoritative, types(r.Answer), types(r.Ns), r.IsEdns0() != nil, replyECS(r),
						tt.wantRcode, tt.wantAA, tt.wantAns, tt.wantNs, tt.wantOPT, tt.wantECS)
				}
				if len(tt.wantNs) > 0 && r.Ns[0].(*dns.SOA).Minttl != 60 {
					t.Errorf("%s: SOA minimum %d, want 60", network, r.Ns[0].(*dns.SOA).Minttl)
				}
				if len(tt.wantAns) > 1 && r.Answer[0].Header().Name != tt.q.Question[0].Name {
					t.Errorf("%s: chain starts at %q, want the question's %q", network, r.Answer[0].Header().Name, tt.q.Question[0].Name)
				}
			}
		})
	}
}

// types returns the record types of rrs.
func types(rrs []dns.RR) []uint16 {
	var out []uint16
	for _, rr := range rrs {
		out = append(out, rr.Header().Rrtype)
	}
	return out
}

func badVersion(m *dns.Msg) *dns.Msg {
	m.IsEdns0().SetVersion(1)
	return m
}

// rawECS builds a query whose ECS option has exactly the given bytes, bypassing the library's masking.
func rawECS(name string, data []byte) *dns.Msg {
	m := query(name, dns.TypeA, netip.Prefix{}, 1232)
	opt := m.IsEdns0()
	opt.Option = append(opt.Option, &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: data})
	return m
}

func notify(name string) *dns.Msg {
	m := new(dns.Msg).SetNotify(dns.Fqdn(name))
	return m
}
