package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"

	"github.com/httpdns/httpdns/api"
	"github.com/httpdns/httpdns/resolver"
)

// staticResolver answers every A query with one address, as a cache hit would.
type staticResolver struct{}

func (staticResolver) Resolve(_ context.Context, q resolver.Query) (resolver.Answer, error) {
	if q.Qtype != resolver.TypeA {
		return resolver.Answer{Name: q.Name, Qtype: q.Qtype, TTL: 60, OriginTTL: 60}, nil
	}
	return resolver.Answer{
		Name: q.Name, Qtype: q.Qtype, TTL: 57, OriginTTL: 60,
		IPs:   []netip.Addr{netip.MustParseAddr("203.0.113.10")},
		Scope: netip.PrefixFrom(q.Client, 24).Masked().String(),
	}, nil
}

func ExampleAPI_Public() {
	a, err := api.New(api.Config{Resolver: staticResolver{}})
	if err != nil {
		panic(err)
	}
	for _, target := range []string{
		"/d?host=api.example.com&ip=198.51.100.7",
		"/d?host=api.example.com&query=4,6",
		"/resolve?host=a.example.com,b.example.com",
		"/d?host=1.2.3.4",
	} {
		w := httptest.NewRecorder()
		a.Public().ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		fmt.Print(w.Code, " ", w.Body)
	}
	// Output:
	// 200 {"host":"api.example.com","client_ip":"198.51.100.7","ips":["203.0.113.10"],"ipsv6":[],"ttl":57,"origin_ttl":60,"scope":"198.51.100.0/24"}
	// 200 {"host":"api.example.com","client_ip":"192.0.2.1","ips":["203.0.113.10"],"ipsv6":[],"ttl":57,"origin_ttl":60,"scope":"192.0.2.0/24"}
	// 200 {"dns":[{"host":"a.example.com","client_ip":"192.0.2.1","ips":["203.0.113.10"],"type":1,"ttl":57,"origin_ttl":60,"scope":"192.0.2.0/24"},{"host":"b.example.com","client_ip":"192.0.2.1","ips":["203.0.113.10"],"type":1,"ttl":57,"origin_ttl":60,"scope":"192.0.2.0/24"}]}
	// 400 {"code":"InvalidHost","message":"invalid host \"1.2.3.4\""}
}
