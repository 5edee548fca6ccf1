package client_test

import (
	"context"
	"net"
	"testing"

	"github.com/httpdns/httpdns/client"
)

// BenchmarkLookupCached is a Lookup answered from the cache, the path every request of an app
// takes between refreshes.
//
//	go test -run '^$' -bench LookupCached -benchmem ./client
func BenchmarkLookupCached(b *testing.B) {
	s := startService(b)
	c := newClient(b, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "two.client.test"); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Lookup(ctx, "two.client.test"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Lookup(ctx, "two.client.test"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	if n := s.Requests("/d", "two.client.test"); n != 1 {
		b.Errorf("requests: %d, want 1", n)
	}
}

// BenchmarkDial connects to a loopback listener through the client (a cached name, one address)
// and with a plain net.Dialer to its address: the client's cost on top of connect(2).
//
//	go test -run '^$' -bench Dial -benchmem ./client
func BenchmarkDial(b *testing.B) {
	s := startService(b)
	l, port := listenOn(b)
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	c := newClient(b, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "web.client.test"); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		dial func(ctx context.Context, network, addr string) (net.Conn, error)
		addr string
	}{
		{"client", c.DialContext, "web.client.test:" + port},
		{"net.Dialer", (&net.Dialer{}).DialContext, "127.0.0.3:" + port},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				conn, err := bc.dial(ctx, "tcp", bc.addr)
				if err != nil {
					b.Fatal(err)
				}
				conn.Close()
			}
		})
	}
}
