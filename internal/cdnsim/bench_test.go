package cdnsim_test

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// BenchmarkAnswer measures the authoritative answer path without the network:
//
//	go test -run '^$' -bench Answer ./internal/cdnsim/
func BenchmarkAnswer(b *testing.B) {
	w := newWorld(b, cdnsim.DefaultConfig())
	subnets := w.Subnets()
	ecs := make([]netip.Prefix, 1024)
	for i := range ecs {
		ecs[i] = pfx(w.ClientIn(subnets[i*7%len(subnets)], i), 24)
	}
	names := []string{"img.cdn-a.test", "video.cdn-b.test", "static.cdn-c.test", "news.cdn-d.test", "www.shop.test"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.Answer(names[i%len(names)], dns.TypeA, ecs[i%len(ecs)])
		i++
	}
}

// BenchmarkServerUDP measures one query over loopback UDP, client included:
//
//	go test -run '^$' -bench ServerUDP ./internal/cdnsim/
func BenchmarkServerUDP(b *testing.B) {
	w := newWorld(b, cdnsim.DefaultConfig())
	s := cdnsim.StartTest(b, w)
	c := &dns.Client{Net: "udp"}
	conn, err := c.Dial(s.Addr())
	if err != nil {
		b.Fatalf("dialing %s: %v", s.Addr(), err)
	}
	defer conn.Close()
	q := query("img.cdn-a.test", dns.TypeA, pfx(w.ClientIn(w.Subnets()[0], 0), 24), 1232)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.ExchangeWithConn(q, conn); err != nil {
			b.Fatalf("exchange: %v", err)
		}
	}
}
