package client_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/httpdns/httpdns/client"
)

// TestNetworkChanged: NetworkChanged drops the cache, closes the transport's idle connections
// and resolves the pre-resolved names again in the background.
func TestNetworkChanged(t *testing.T) {
	t.Parallel()
	s := startService(t)
	l, port := listenOn(t)
	closed := make(chan struct{}, 4)
	edge := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	edge.Listener.Close()
	edge.Listener = l
	edge.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	edge.Start()
	t.Cleanup(edge.Close)

	var reasons []string
	var mu sync.Mutex
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true,
		Hooks: client.Hooks{NetworkChange: func(r string) { mu.Lock(); reasons = append(reasons, r); mu.Unlock() }}})
	ctx := context.Background()
	if err := c.PreResolve(ctx, "n1.client.test", "n2.client.test"); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: c.Transport()}
	resp, err := hc.Get("http://web.client.test:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close() // the connection goes idle in the pool

	c.NetworkChanged()
	c.Settle()
	<-closed // the idle connection to the old network's edge was closed
	if n := s.Requests("/resolve", "n1.client.test,n2.client.test"); n != 2 {
		t.Errorf("batch requests of the pre-resolved names: %d, want 2 (again after the change)", n)
	}
	for _, tc := range []struct {
		host string
		want client.Source
	}{{"web.client.test", client.SourceServer}, {"n1.client.test", client.SourceCache}} {
		if a, err := c.Resolve(ctx, tc.host); err != nil || a.Source != tc.want {
			t.Errorf("%s after the change: %+v, %v; want from %v", tc.host, a, err, tc.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(reasons, []string{"called"}) {
		t.Errorf("NetworkChange hook: %v", reasons)
	}
}

// TestClientIPChange: a server reporting a client_ip in another /24 means the client moved; what
// was cached for the old address is dropped, the answer for the new one kept. Another address of
// the same /24 changes nothing, and neither does reaching the server over the other family.
func TestClientIPChange(t *testing.T) {
	t.Parallel()
	s := startService(t)
	home, away := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("203.0.113.9")
	xff := newXFF(home)
	var reasons []string
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true,
		HTTPClient: &http.Client{Transport: xff},
		Hooks:      client.Hooks{NetworkChange: func(r string) { reasons = append(reasons, r) }}})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "web.client.test"); err != nil {
		t.Fatal(err)
	}
	if ip, _ := c.ClientIP(); ip != home {
		t.Fatalf("ClientIP = %v, want %v", ip, home)
	}
	if _, err := c.Lookup(ctx, "n1.client.test"); err != nil {
		t.Fatal(err)
	}
	xff.Move(netip.MustParseAddr("198.51.100.99")) // another address of the same /24: a NAT pool
	if _, err := c.Lookup(ctx, "n3.client.test"); err != nil {
		t.Fatal(err)
	}
	if a, err := c.Resolve(ctx, "web.client.test"); err != nil || a.Source != client.SourceCache {
		t.Errorf("after a move within the /24: %+v, %v; want still cached", a, err)
	}
	if len(reasons) != 0 {
		t.Fatalf("a change on the same network: %v", reasons)
	}
	xff.Move(netip.MustParseAddr("2001:db8:1::7")) // the same device reaching the server over IPv6
	if _, err := c.Lookup(ctx, "n4.client.test"); err != nil {
		t.Fatal(err)
	}
	xff.Move(netip.MustParseAddr("198.51.100.99")) // and over IPv4 again
	if _, err := c.Lookup(ctx, "n5.client.test"); err != nil {
		t.Fatal(err)
	}
	if a, err := c.Resolve(ctx, "web.client.test"); err != nil || a.Source != client.SourceCache || len(reasons) != 0 {
		t.Errorf("after alternating families: %+v, %v, changes %v; want still cached", a, err, reasons)
	}
	xff.Move(away)
	if _, err := c.Lookup(ctx, "n2.client.test"); err != nil {
		t.Fatal(err)
	}
	if ip, _ := c.ClientIP(); ip != away || !slices.Equal(reasons, []string{"client_ip"}) {
		t.Fatalf("after moving: ClientIP %v, hook %v", ip, reasons)
	}
	for _, tc := range []struct {
		host string
		want client.Source
	}{{"web.client.test", client.SourceServer}, {"n2.client.test", client.SourceCache}} {
		if a, err := c.Resolve(ctx, tc.host); err != nil || a.Source != tc.want {
			t.Errorf("%s after moving: %+v, %v; want from %v", tc.host, a, err, tc.want)
		}
	}
}

// TestCacheFile: Close saves the cache atomically; a new client loads it and answers without a
// server, stale past the TTL; a corrupt file is a cold start; a restart on another network drops
// what was loaded at the first answer naming another client_ip.
func TestCacheFile(t *testing.T) {
	t.Parallel()
	s := startService(t)
	file := filepath.Join(t.TempDir(), "cache.json")
	clk := newClock()
	home := netip.MustParseAddr("198.51.100.7")
	ctx := context.Background()
	c1, err := client.New(client.Config{Servers: []string{s.URL}, DisableLocalDNS: true, CacheFile: file,
		Now: clk.Now, HTTPClient: &http.Client{Transport: newXFF(home)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c1.PreResolve(ctx, "two.client.test", "web.client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v, %v", fi, err)
	}
	var f struct {
		ClientIP string `json:"client_ip"`
		Entries  []struct{ Host string }
	}
	b, _ := os.ReadFile(file)
	if err := json.Unmarshal(b, &f); err != nil || f.ClientIP != home.String() || len(f.Entries) != 2 {
		t.Fatalf("cache file %s: %v", b, err)
	}

	restart := func(cfg client.Config) (*client.Client, *int) {
		loaded := new(int)
		cfg.CacheFile, cfg.Now, cfg.DisableLocalDNS = file, clk.Now, true
		cfg.Hooks.CacheLoad = func(n int, err error) {
			if err != nil {
				n = -1
			}
			*loaded = n
		}
		return newClient(t, cfg), loaded
	}
	c2, loaded := restart(client.Config{Servers: []string{deadURL(t)}})
	if *loaded != 2 {
		t.Errorf("loaded %d answers, want 2", *loaded)
	}
	if a, err := c2.Resolve(ctx, "two.client.test"); err != nil || a.Source != client.SourceCache ||
		!slices.Equal(a.Addrs, addrs("127.0.0.2", "127.0.0.3")) {
		t.Errorf("after a restart with the servers down: %+v, %v; want from the cache", a, err)
	}
	clk.Advance(2 * zoneTTL * 1e9)
	if a, err := c2.Resolve(ctx, "web.client.test"); err != nil || a.Source != client.SourceStale {
		t.Errorf("past its TTL after a restart: %+v, %v; want stale", a, err)
	}

	away := netip.MustParseAddr("203.0.113.9")
	c3, _ := restart(client.Config{Servers: []string{s.URL}, HTTPClient: &http.Client{Transport: newXFF(away)}})
	if _, err := c3.Lookup(ctx, "n4.client.test"); err != nil {
		t.Fatal(err)
	}
	if a, err := c3.Resolve(ctx, "web.client.test"); err != nil || a.Source != client.SourceServer {
		t.Errorf("restarted on another network: %+v, %v; want the loaded answer dropped", a, err)
	}

	if err := os.WriteFile(file, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	c4, loaded := restart(client.Config{Servers: []string{s.URL}})
	if *loaded != -1 {
		t.Errorf("a corrupt file: CacheLoad got %d, want an error", *loaded)
	}
	if a, err := c4.Resolve(ctx, "two.client.test"); err != nil || a.Source != client.SourceServer {
		t.Errorf("after a corrupt file: %+v, %v; want a cold start", a, err)
	}
}

// TestChangeDuringFetch: an answer being fetched when the network changes is returned to its
// caller but not cached: it was chosen for the old network's address.
func TestChangeDuringFetch(t *testing.T) {
	t.Parallel()
	s := startService(t)
	arrived, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	s.Hold(func(r *http.Request) {
		if r.URL.Query().Get("host") == "n8.client.test" {
			first.Do(func() { // the first request waits for the change
				close(arrived)
				<-release
			})
		}
	})
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true})
	ctx := context.Background()
	done := make(chan client.Answer)
	go func() {
		a, _ := c.Resolve(ctx, "n8.client.test")
		done <- a
	}()
	<-arrived
	c.NetworkChanged()
	close(release)
	if a := <-done; a.Source != client.SourceServer || len(a.Addrs) != 1 {
		t.Fatalf("the fetch in flight: %+v", a)
	}
	if a, err := c.Resolve(ctx, "n8.client.test"); err != nil || a.Source != client.SourceServer {
		t.Errorf("after the change: %+v, %v; want asked again, not cached from the old network", a, err)
	}
	if n := s.Requests("/d", "n8.client.test"); n != 2 {
		t.Errorf("requests: %d, want 2", n)
	}
}
