package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpdns/httpdns/client"
)

// scripted is an HTTPDNS server that answers every request with body(n), n counting from 1.
func scripted(t *testing.T, body func(n int64) string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body(n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestHostileServerTTL: a server's TTL of years, or one past any Duration, is cached for MaxTTL at
// most (default 1h), and a negative one for MinTTL.
func TestHostileServerTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ttl  string
		want time.Duration
	}{
		{"315360000", time.Hour},           // ten years
		{"9223372036854775807", time.Hour}, // overflows ttl * time.Second
		{"-5", 10 * time.Second},
		{"120", 2 * time.Minute},
	} {
		t.Run(tc.ttl, func(t *testing.T) {
			t.Parallel()
			srv, _ := scripted(t, func(int64) string {
				return `{"host":"a.test","ips":["192.0.2.1"],"ipsv6":[],"ttl":` + tc.ttl + `}`
			})
			clk := newClock()
			c := newClient(t, client.Config{Servers: []string{srv.URL}, DisableLocalDNS: true, Now: clk.Now})
			a, err := c.Resolve(context.Background(), "a.test")
			if err != nil || a.TTL != tc.want {
				t.Fatalf("ttl %s: %+v, %v; want cached for %v", tc.ttl, a, err, tc.want)
			}
			clk.Advance(tc.want + time.Second)
			if a, _ := c.Resolve(context.Background(), "a.test"); a.Source != client.SourceStale {
				t.Errorf("ttl %s, %v later: source %v, want stale", tc.ttl, tc.want+time.Second, a.Source)
			}
		})
	}
}

// TestHostileServerAddresses: thousands of addresses, repeated ones and strings that are not
// addresses: the client keeps at most 32 distinct addresses a family, fast.
func TestHostileServerAddresses(t *testing.T) {
	t.Parallel()
	var v4, v6 []string
	for i := range 40000 {
		v4 = append(v4, fmt.Sprintf(`"10.%d.%d.%d"`, i>>16&255, i>>8&255, i&255))
		if i < 5000 {
			v6 = append(v6, fmt.Sprintf(`"2001:db8::%x"`, i), `"not-an-ip"`, `"2001:db8::1"`)
		}
	}
	body := `{"host":"a.test","ips":[` + strings.Join(v4, ",") + `],"ipsv6":[` + strings.Join(v6, ",") + `],"ttl":60}`
	if len(body) > 1<<20 {
		t.Fatalf("body of %d bytes: keep it under the client's 1 MiB", len(body))
	}
	srv, _ := scripted(t, func(int64) string { return body })
	c := newClient(t, client.Config{Servers: []string{srv.URL}, DisableLocalDNS: true})
	start := time.Now()
	got, err := c.Lookup(context.Background(), "a.test")
	if err != nil {
		t.Fatal(err)
	}
	var n4, n6 int
	seen := map[string]bool{}
	for _, a := range got {
		if seen[a.String()] {
			t.Errorf("%v twice", a)
		}
		seen[a.String()] = true
		if a.Is4() {
			n4++
		} else {
			n6++
		}
	}
	if n4 != 32 || n6 != 32 {
		t.Errorf("%d IPv4 and %d IPv6 addresses kept, want 32 each", n4, n6)
	}
	t.Logf("%d addresses kept in %v", len(got), time.Since(start))
}

// TestHostileServerHugeBody: an answer over 1 MiB is refused with an error saying so.
func TestHostileServerHugeBody(t *testing.T) {
	t.Parallel()
	srv, _ := scripted(t, func(int64) string {
		return `{"host":"a.test","ips":["192.0.2.1"],"ttl":60,"pad":"` + strings.Repeat("x", 2<<20) + `"}`
	})
	c := newClient(t, client.Config{Servers: []string{srv.URL}, DisableLocalDNS: true})
	_, err := c.Lookup(context.Background(), "a.test")
	if !errors.Is(err, client.ErrServersUnavailable) || !strings.Contains(err.Error(), "over 1048576 bytes") {
		t.Fatalf("error %v, want the servers unavailable, the answer over 1048576 bytes", err)
	}
}

// TestClientIPFlapping: a server whose answers report client addresses of alternating subnets (a
// fleet behind untrusted proxies, each reporting its own) makes at most one network change per
// interval. Before, every answer of the other subnet emptied the cache and re-resolved the
// pre-resolved names: nothing stayed cached, and each lookup cost requests.
func TestClientIPFlapping(t *testing.T) {
	t.Parallel()
	srv, requests := scripted(t, func(n int64) string {
		ip := "198.51.100.7"
		if n%2 == 0 {
			ip = "203.0.113.7"
		}
		return `{"host":"a.test","client_ip":"` + ip + `","ips":["192.0.2.1"],"ttl":60}`
	})
	var changes atomic.Int64
	c := newClient(t, client.Config{Servers: []string{srv.URL}, DisableLocalDNS: true, BatchLimit: 1,
		Hooks: client.Hooks{NetworkChange: func(string) { changes.Add(1) }}})
	if err := c.PreResolve(context.Background(), "p1.test", "p2.test"); err != nil {
		t.Fatal(err)
	}
	names := []string{"b1.test", "b2.test", "b3.test", "b4.test", "b5.test", "b6.test"}
	for range 2 { // the one change allowed may empty the cache once
		for _, h := range names {
			if _, err := c.Lookup(context.Background(), h); err != nil {
				t.Fatal(err)
			}
			c.Settle()
		}
	}
	before := requests.Load()
	for _, h := range names {
		if a, err := c.Resolve(context.Background(), h); err != nil || a.Source != client.SourceCache {
			t.Errorf("%s again: %v, %v; want it from the cache", h, a.Source, err)
		}
		c.Settle()
	}
	if n, ch := requests.Load(), changes.Load(); ch > 1 || n != before {
		t.Fatalf("%d network changes, %d requests for names looked up before; want at most one change, none", ch, n-before)
	}
}

// TestCacheFileBounded: a cache file whose answer expires in ten years and holds a thousand addresses
// (written by hand, or by a build without the clamps) is loaded as the client would have cached it: for
// MaxTTL at most, with at most 64 addresses.
func TestCacheFileBounded(t *testing.T) {
	t.Parallel()
	clk := newClock()
	var ips []string
	for i := range 1000 {
		ips = append(ips, fmt.Sprintf(`"10.0.%d.%d"`, i>>8, i&255))
	}
	file := filepath.Join(t.TempDir(), "cache.json")
	body := `{"version":1,"entries":[{"host":"a.test","addrs":[` + strings.Join(ips, ",") + `],"expires":"` +
		clk.Now().AddDate(10, 0, 0).Format(time.RFC3339) + `","from":"server"}]}`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, client.Config{Servers: []string{deadURL(t)}, DisableLocalDNS: true, CacheFile: file, Now: clk.Now})
	a, err := c.Resolve(context.Background(), "a.test")
	if err != nil || a.Source != client.SourceCache || a.TTL > time.Hour || len(a.Addrs) > 64 {
		t.Fatalf("%v from %v, ttl %v, %d addresses (%v); want from the cache for 1h at most, 64 addresses at most",
			a.Host, a.Source, a.TTL, len(a.Addrs), err)
	}
}

// TestHostileServerNoHostAddresses: addresses where no host is — unspecified (a dial to 0.0.0.0 or ::
// reaches this machine) and multicast, IPv4-mapped too — are dropped like strings that are not addresses.
func TestHostileServerNoHostAddresses(t *testing.T) {
	t.Parallel()
	srv, _ := scripted(t, func(int64) string {
		return `{"host":"a.test","ips":["0.0.0.0","224.0.0.1","::ffff:0.0.0.0","192.0.2.1","1.2.3"],` +
			`"ipsv6":["::","ff02::1","::ffff:239.1.1.1","2001:db8::1"],"ttl":60}`
	})
	c := newClient(t, client.Config{Servers: []string{srv.URL}, DisableLocalDNS: true})
	got, err := c.Lookup(context.Background(), "a.test")
	if want := addrs("192.0.2.1", "2001:db8::1"); err != nil || !slices.Equal(got, want) {
		t.Fatalf("%v, %v; want %v", got, err, want)
	}
}

// TestBatchElementError: a batch element's own error code is a *ServerError naming the server that
// answered it, as any other error answer does. Before, its Server was empty ("httpdns server : 200").
func TestBatchElementError(t *testing.T) {
	t.Parallel()
	srv, _ := scripted(t, func(int64) string {
		return `{"dns":[{"host":"a.test","ips":["192.0.2.1"],"type":1,"ttl":60},` +
			`{"host":"b.test","ips":[],"type":1,"error":"UpstreamUnavailable"}]}`
	})
	c := newClient(t, client.Config{Servers: []string{srv.URL}, DisableLocalDNS: true})
	got, err := c.LookupBatch(context.Background(), []string{"a.test", "b.test"})
	if err != nil || got[0].Err != nil {
		t.Fatalf("%+v, %v", got, err)
	}
	var se *client.ServerError
	if !errors.As(got[1].Err, &se) || se.Code != "UpstreamUnavailable" || se.Server != srv.URL {
		t.Errorf("b.test: %v, want UpstreamUnavailable from %s", got[1].Err, srv.URL)
	}
}
