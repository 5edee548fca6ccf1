package cdnsim_test

import (
	"fmt"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

func ExampleWorld_Answer() {
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	ecs := netip.MustParsePrefix("20.0.32.0/24")
	for _, name := range []string{"www.portal.test", "nope.portal.test", "example.com"} {
		ips, scope, ttl, rcode := w.Answer(name, dns.TypeA, ecs)
		fmt.Println(name, ips, scope, ttl, dns.RcodeToString[rcode])
	}
	// Output:
	// www.portal.test [198.51.100.10 198.51.100.11 198.51.100.12] 0 600 NOERROR
	// nope.portal.test [] 0 60 NXDOMAIN
	// example.com [] 0 0 REFUSED
}

func ExampleServe() {
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := cdnsim.Serve(w, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	q := new(dns.Msg).SetQuestion("www.shop.test.", dns.TypeA)
	r, err := dns.Exchange(q, s.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer), s.QueriesFor("www.shop.test"))
	fmt.Println(r.Answer[0].(*dns.CNAME).Target)
	// Output:
	// NOERROR true 2 1
	// shop.cdn-a.test.
}
