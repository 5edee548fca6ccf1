package dnsmsg_test

import (
	"fmt"
	"net/netip"

	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/miekg/dns"
)

// Example builds a query for a client, checks a reply and parses it.
func Example() {
	src := dnsmsg.Source(netip.MustParseAddr("223.5.5.77"))
	q := dnsmsg.NewQuery("api.example.com", dns.TypeA, src)

	// The upstream's reply: it echoes our ECS option with scope /20.
	reply := q.Copy()
	reply.Response = true
	dnsmsg.ECS(reply).SourceScope = 20
	for _, s := range []string{
		"api.example.com. 300 IN CNAME edge.cdn.test.",
		"edge.cdn.test. 60 IN A 203.0.113.9",
		"edge.cdn.test. 60 IN A 203.0.113.7",
	} {
		rr, _ := dns.NewRR(s)
		reply.Answer = append(reply.Answer, rr)
	}

	if err := dnsmsg.CheckReply(q, reply); err != nil {
		fmt.Println(err)
		return
	}
	r := dnsmsg.Parse(reply, "api.example.com", dns.TypeA, 60)
	fmt.Println("ECS source", src, "UDP size", q.IsEdns0().UDPSize())
	fmt.Println(r.IPs, "ttl", r.TTL, "scope", r.Scope)
	fmt.Println("private client's source valid:", dnsmsg.Source(netip.MustParseAddr("100.64.1.2")).IsValid())
	// Output:
	// ECS source 223.5.5.0/24 UDP size 1232
	// [203.0.113.7 203.0.113.9] ttl 60 scope 20
	// private client's source valid: false
}
