package cdnsim

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// FuzzReply feeds arbitrary queries to the reply builder: it must not panic, and every reply must
// pack, keep the query's ID and, over UDP, fit the client's size.
//
//	go test -run '^$' -fuzz FuzzReply -fuzztime 10s ./internal/cdnsim/
func FuzzReply(f *testing.F) {
	w, err := NewWorld(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{world: w, done: make(chan struct{})}
	for _, name := range []string{"img.cdn-a.test.", "www.shop.test.", "pool.portal.test.", "x.test.", "example.com."} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT} {
			m := new(dns.Msg).SetQuestion(name, qtype)
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1,
				SourceNetmask: 24, Address: net.IPv4(20, 0, 32, 0)})
			b, err := m.Pack()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, uint8(0), true)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, behavior uint8, udp bool) {
		req := new(dns.Msg)
		if req.Unpack(raw) != nil {
			return // the library answers these itself
		}
		b := Behavior(behavior % 6)
		r := s.reply(req, b, udp)
		if r.Id != req.Id {
			t.Errorf("reply ID %d, query ID %d", r.Id, req.Id)
		}
		r.Compress = true
		packed, err := r.Pack()
		if err != nil {
			t.Fatalf("packing reply to %v: %v", req, err)
		}
		if udp && len(packed) > udpSize(req) {
			t.Errorf("UDP reply of %d bytes, client takes %d", len(packed), udpSize(req))
		}
	})
}
