package client_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/httpdns/httpdns/api"
	"github.com/httpdns/httpdns/client"
	"github.com/httpdns/httpdns/resolver"
)

// loopbackResolver answers every A query with 127.0.0.1 for 60 s, as httpdns would for a name
// whose edge is this machine.
type loopbackResolver struct{}

func (loopbackResolver) Resolve(_ context.Context, q resolver.Query) (resolver.Answer, error) {
	a := resolver.Answer{Name: q.Name, Qtype: q.Qtype, TTL: 60, OriginTTL: 60}
	if q.Qtype == resolver.TypeA {
		a.IPs = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	return a, nil
}

// exampleServer is an httpdns API on loopback for the examples.
func exampleServer() *httptest.Server {
	a, err := api.New(api.Config{Resolver: loopbackResolver{}})
	if err != nil {
		panic(err)
	}
	return httptest.NewServer(a.Public())
}

func ExampleClient_Resolve() {
	srv := exampleServer()
	defer srv.Close()

	c, err := client.New(client.Config{Servers: []string{srv.URL}})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	for range 2 {
		a, err := c.Resolve(context.Background(), "api.example.com")
		if err != nil {
			panic(err)
		}
		fmt.Println(a.Host, a.Addrs, a.Source, a.TTL.Round(time.Second))
	}
	// Output:
	// api.example.com [127.0.0.1] server 1m0s
	// api.example.com [127.0.0.1] cache 1m0s
}

func ExampleClient_Transport() {
	srv := exampleServer()
	defer srv.Close()
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Host: %s", r.Host)
	}))
	defer edge.Close()
	_, port, _ := net.SplitHostPort(edge.Listener.Addr().String())

	c, err := client.New(client.Config{Servers: []string{srv.URL}})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	// The URL keeps the name: the Host header (and for https, SNI and the certificate check) use
	// it, while the connection goes to the address httpdns answered.
	hc := &http.Client{Transport: c.Transport()}
	resp, err := hc.Get("http://api.example.com:" + port + "/")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body) == "Host: api.example.com:"+port)
	// Output:
	// 200 OK true
}

func ExampleClient_PreResolve() {
	srv := exampleServer()
	defer srv.Close()

	var sources []string
	c, err := client.New(client.Config{Servers: []string{srv.URL},
		Hooks: client.Hooks{Lookup: func(host string, src client.Source, err error) {
			sources = append(sources, host+" "+src.String())
		}}})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	// One /resolve request for both names, at start.
	if err := c.PreResolve(context.Background(), "a.example.com", "b.example.com"); err != nil {
		panic(err)
	}
	if _, err := c.Lookup(context.Background(), "b.example.com"); err != nil {
		panic(err)
	}
	fmt.Println(sources)
	// Output:
	// [a.example.com server b.example.com server b.example.com cache]
}
