package client_test

import (
	"context"
	"net"
	"testing"
	"time"

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
// and with the same net.Dialer (the client's default settings: 10s timeout, keep-alives) to its
// address: the client's own cost on top of the dial; and through the client to a name of two
// addresses, which pays for the race's goroutine, timer and cancellation.
//
//	go test -run '^$' -bench Dial -benchmem ./client
func BenchmarkDial(b *testing.B) {
	s := startService(b)
	port := closingEdge(b)
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	c := newClient(b, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true, Dialer: d})
	ctx := context.Background()
	for _, h := range []string{"web.client.test", "two.client.test"} {
		if _, err := c.Lookup(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		dial func(ctx context.Context, network, addr string) (net.Conn, error)
		addr string
	}{
		{"client", c.DialContext, "web.client.test:" + port},
		// two.client.test's first address refuses: it fails once, is tried last from then on, and
		// each dial races two addresses, the first winning at once.
		{"client race", c.DialContext, "two.client.test:" + port},
		{"net.Dialer", d.DialContext, "127.0.0.3:" + port},
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
