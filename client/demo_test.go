package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/httpdns/httpdns/client"
	"github.com/httpdns/httpdns/internal/loadtest/demoproc"
)

// TestAgainstDemo runs the real binary, `httpdns demo` (serve over the simulated CDN world, as a
// child process), and resolves the world's names through the client behind a dead first server:
// every answer equals what the service's /d says for this client when asked directly.
func TestAgainstDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs httpdns; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	demo, err := demoproc.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(demo.Close)
	u, err := url.Parse(demo.URL)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + u.Host
	c := newClient(t, client.Config{Servers: []string{deadURL(t), base}, DisableLocalDNS: true})
	names := []string{"img.cdn-a.test", "video.cdn-b.test", "static.cdn-c.test", "www.portal.test", "www.shop.test"}
	if err := c.PreResolve(ctx, names...); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		a, err := c.Resolve(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := directD(t, base, name)
		got := slices.SortedFunc(slices.Values(a.Addrs), netip.Addr.Compare)
		if a.Source != client.SourceCache || len(got) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: %v from %v, want /d's %v from the cache", name, got, a.Source, want)
		}
	}
	if ip, ok := c.ClientIP(); !ok || !ip.IsLoopback() {
		t.Errorf("ClientIP = %v, %v; want the loopback address the demo saw", ip, ok)
	}
}

// directD asks base's /d for name (both families) and returns the addresses, sorted.
func directD(t *testing.T, base, name string) []netip.Addr {
	t.Helper()
	resp, err := http.Get(base + "/d?host=" + name + "&query=4,6")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct{ IPs, IPsV6 []string }
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, s := range append(d.IPs, d.IPsV6...) {
		out = append(out, netip.MustParseAddr(s))
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
