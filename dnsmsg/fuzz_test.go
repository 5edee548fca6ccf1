package dnsmsg

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// FuzzReply unpacks arbitrary wire bytes as the reply to a fixed query, checks and parses it: neither
// panics, every check failure is an ErrMismatch, and the parsed answer keeps the limits the cache
// relies on (at most MaxAddrs addresses, all of the asked family, sorted, unique; a scope within the
// family's bits after a passed check).
//
//	go test ./dnsmsg -run '^$' -fuzz FuzzReply -fuzztime 60s
func FuzzReply(f *testing.F) {
	queries := []*dns.Msg{
		NewQuery("a.test", dns.TypeA, netip.MustParsePrefix("1.2.3.0/24")),
		NewQuery("a.test", dns.TypeAAAA, netip.MustParsePrefix("2001:da8:1:200::/56")),
		NewQuery("a.test", dns.TypeA, netip.Prefix{}),
	}
	for _, q := range queries {
		q.Id = 4242
		r := replyTo(q, nil)
		r.Answer = append(r.Answer,
			mustRR(f, "a.test. 300 IN CNAME b.test."), mustRR(f, "b.test. 60 IN A 1.1.1.1"),
			mustRR(f, "b.test. 60 IN A 1.1.1.1"), mustRR(f, "b.test. 60 IN AAAA 2001:db8::1"))
		r.Ns = append(r.Ns, mustRR(f, "test. 30 IN SOA ns.test. h.test. 1 2 3 4 5"))
		for _, m := range []*dns.Msg{r, q} {
			buf, err := m.Pack()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(buf)
		}
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		reply := new(dns.Msg)
		if err := reply.Unpack(wire); err != nil {
			return
		}
		for _, q := range queries {
			err := CheckReply(q, reply)
			if err != nil && !errors.Is(err, ErrMismatch) {
				t.Fatalf("check error %v is not an ErrMismatch", err)
			}
			qtype := q.Question[0].Qtype
			p := Parse(reply, "a.test", qtype, 60)
			if len(p.IPs) > MaxAddrs {
				t.Fatalf("%d addresses kept", len(p.IPs))
			}
			if !slices.IsSortedFunc(p.IPs, netip.Addr.Compare) || len(slices.Compact(slices.Clone(p.IPs))) != len(p.IPs) {
				t.Fatalf("addresses not sorted and unique: %v", p.IPs)
			}
			for _, a := range p.IPs {
				if a.Is4() != (qtype == dns.TypeA) {
					t.Fatalf("address %s for qtype %d", a, qtype)
				}
			}
			if p.Negative != (len(p.IPs) == 0) || p.Rcode != reply.Rcode {
				t.Fatalf("negative %v with %d addresses, rcode %d", p.Negative, len(p.IPs), p.Rcode)
			}
			if p.Negative && p.TTL > 60 && !slices.ContainsFunc(reply.Ns, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeSOA }) {
				t.Fatalf("negative TTL %d above the default without a SOA", p.TTL)
			}
			if err == nil {
				bits := 32
				if e := ECS(q); e != nil && e.Family == 2 {
					bits = 128
				}
				if p.Scope > bits || (ECS(q) == nil && p.Scope != -1) {
					t.Fatalf("checked reply with scope %d", p.Scope)
				}
			}
		}
	})
}
