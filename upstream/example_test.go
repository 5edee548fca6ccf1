package upstream_test

import (
	"context"
	"fmt"
	"net"

	"github.com/httpdns/httpdns/upstream"
	"github.com/miekg/dns"
)

// Example asks one recursive node (here a tiny in-process server on 127.0.0.1) through a pool.
func Example() {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, 7)})
			_ = w.WriteMsg(m)
		})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	defer srv.Shutdown()

	pool, err := upstream.New(upstream.Config{Addrs: []string{pc.LocalAddr().String()}})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	q := new(dns.Msg)
	q.SetQuestion("api.example.com.", dns.TypeA)
	reply, err := pool.Exchange(context.Background(), q, "api.example.com|")
	if err != nil {
		panic(err)
	}
	fmt.Println(reply.Answer[0].(*dns.A).A, pool.Healthy())
	// Output: 192.0.2.7 1
}
