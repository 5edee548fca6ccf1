package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/client"
	"github.com/httpdns/httpdns/resolver"
)

func newClient(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// TestLookupAPIs resolves through each API of a real service: a name of the test zone, then
// again from the cache; Alibaba v1 signed and unsigned, and a signed-only account refusing the
// unsigned door without trying another server.
func TestLookupAPIs(t *testing.T) {
	t.Parallel()
	s := startService(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  client.Config
		path string
	}{
		{"httpdns", client.Config{}, "/d"},
		{"alibaba_v1", client.Config{API: client.APIAlibabaV1, AccountID: testAccount}, "/" + testAccount + "/d"},
		{"alibaba_v1 signed", client.Config{API: client.APIAlibabaV1, AccountID: "signed", Secret: testSecret},
			"/signed/sign_d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Servers = []string{s.URL}
			tc.cfg.DisableLocalDNS = true
			c := newClient(t, tc.cfg)
			for i, want := range []client.Source{client.SourceServer, client.SourceCache} {
				a, err := c.Resolve(ctx, "Two.Client.Test.")
				if err != nil {
					t.Fatal(err)
				}
				if a.Source != want || !slices.Equal(a.Addrs, addrs("127.0.0.2", "127.0.0.3")) || a.Host != "two.client.test" {
					t.Errorf("lookup %d: %+v, want %v from %v", i, a, addrs("127.0.0.2", "127.0.0.3"), want)
				}
			}
			if n := s.Requests(tc.path, "two.client.test"); n != 1 {
				t.Errorf("%s requests: %d, want 1", tc.path, n)
			}
		})
	}
	t.Run("unsigned on a signed-only account", func(t *testing.T) {
		var requests int
		c := newClient(t, client.Config{Servers: []string{s.URL, s.URL + "/"}, API: client.APIAlibabaV1,
			AccountID: "signed", DisableLocalDNS: true,
			Hooks: client.Hooks{Request: func(string, time.Duration, error) { requests++ }}})
		_, err := c.Lookup(ctx, "web.client.test")
		var se *client.ServerError
		if !errors.As(err, &se) || se.Status != http.StatusForbidden || se.Code != "UnsignedInterfaceDisabled" {
			t.Fatalf("err = %v, want 403 UnsignedInterfaceDisabled", err)
		}
		if requests != 1 {
			t.Errorf("requests: %d, want 1 (a 403 is not retried on the next server)", requests)
		}
	})
	t.Run("refused, the local resolver on", func(t *testing.T) {
		local := startLocalDNS(t)
		c := newClient(t, client.Config{Servers: []string{s.URL}, API: client.APIAlibabaV1, AccountID: "signed",
			LocalDNS: local.Resolver})
		a, err := c.Resolve(ctx, "web.client.test")
		if err != nil || a.Source != client.SourceLocalDNS || !slices.Equal(a.Addrs, addrs("127.0.0.9")) {
			t.Errorf("%+v, %v; want 127.0.0.9 from the local resolver", a, err)
		}
	})
}

// TestLookupSimulatedWorld asks the service for names of the simulated CDN world as clients of
// its subnets (X-Forwarded-For through a trusted proxy) and checks every answer against the
// world's truth for that client.
func TestLookupSimulatedWorld(t *testing.T) {
	t.Parallel()
	s := startService(t)
	subnets := s.world.Subnets()
	for i, name := range []string{"img.cdn-a.test", "video.cdn-b.test", "www.portal.test", "www.shop.test"} {
		client0 := s.world.ClientIn(subnets[(i*37)%len(subnets)], 1)
		c := newClient(t, client.Config{Servers: []string{s.URL}, Families: "4", DisableLocalDNS: true,
			HTTPClient: &http.Client{Transport: newXFF(client0)}})
		a, err := c.Resolve(context.Background(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		truth := s.world.Truth(name, resolver.TypeA, client0)
		got, want := slices.SortedFunc(slices.Values(a.Addrs), netip.Addr.Compare), slices.SortedFunc(slices.Values(truth), netip.Addr.Compare)
		if a.Source != client.SourceServer || len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s for %s: %v from %v, want the truth %v", name, client0, a.Addrs, a.Source, truth)
		}
		if ip, ok := c.ClientIP(); !ok || ip != client0 {
			t.Errorf("ClientIP = %v, %v; want %v", ip, ok, client0)
		}
	}
}

// TestFailover puts a refusing server and one answering 500 before the real one: the lookup
// succeeds, and the failed servers are tried last until their penalty ends.
func TestFailover(t *testing.T) {
	t.Parallel()
	s := startService(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"code":"InternalError","message":"boom"}`)
	}))
	t.Cleanup(broken.Close)
	dead := deadURL(t)
	clk := newClock()
	var mu sync.Mutex
	var asked []string
	c := newClient(t, client.Config{Servers: []string{dead, broken.URL, s.URL}, DisableLocalDNS: true,
		Penalty: time.Minute, Now: clk.Now,
		Hooks: client.Hooks{Request: func(server string, _ time.Duration, _ error) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, server)
		}}})
	round := func(host string) []string {
		mu.Lock()
		asked = nil
		mu.Unlock()
		if _, err := c.Lookup(context.Background(), host); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(asked)
	}
	if got, want := round("n1.client.test"), []string{dead, broken.URL, s.URL}; !slices.Equal(got, want) {
		t.Errorf("first lookup asked %v, want %v", got, want)
	}
	if got, want := round("n2.client.test"), []string{s.URL}; !slices.Equal(got, want) {
		t.Errorf("within the penalty asked %v, want %v", got, want)
	}
	clk.Advance(time.Minute + time.Second)
	if got, want := round("n3.client.test"), []string{dead, broken.URL, s.URL}; !slices.Equal(got, want) {
		t.Errorf("after the penalty asked %v, want %v", got, want)
	}
}

// TestSingleflight sends 1,000 concurrent lookups of one name: the service sees one request.
func TestSingleflight(t *testing.T) {
	t.Parallel()
	s := startService(t)
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true})
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	start := make(chan struct{})
	for range 1000 {
		wg.Go(func() {
			<-start
			a, err := c.Lookup(context.Background(), "two.client.test")
			if err == nil && len(a) != 2 {
				err = fmt.Errorf("got %v", a)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := s.Requests("/d", "two.client.test"); n != 1 {
		t.Errorf("requests for 1,000 concurrent lookups: %d, want 1", n)
	}
}

// TestStaleReuse ages an answer with a fake clock: past its TTL it is returned at once (stale)
// and refreshed in the background, once however many lookups read it; past MaxStale it is not
// returned, and the lookup waits for the server.
func TestStaleReuse(t *testing.T) {
	t.Parallel()
	s := startService(t)
	clk := newClock()
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true, Now: clk.Now,
		MaxStale: 10 * time.Minute})
	ctx := context.Background()
	resolve := func() client.Answer {
		t.Helper()
		a, err := c.Resolve(ctx, "web.client.test")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := resolve(); a.Source != client.SourceServer || a.TTL != zoneTTL*time.Second {
		t.Fatalf("first: %+v", a)
	}
	clk.Advance((zoneTTL + 5) * time.Second)
	for range 20 {
		if a := resolve(); a.Source != client.SourceStale || a.TTL != -5*time.Second || len(a.Addrs) != 1 {
			t.Fatalf("expired: %+v, want stale at -5s", a)
		}
	}
	c.Settle()
	if n := s.Requests("/d", "web.client.test"); n != 2 {
		t.Errorf("requests after 20 stale reads: %d, want 2 (one refresh)", n)
	}
	if a := resolve(); a.Source != client.SourceCache || a.TTL != zoneTTL*time.Second {
		t.Errorf("after the refresh: %+v, want a fresh cached answer", a)
	}
	clk.Advance(zoneTTL*time.Second + 10*time.Minute + time.Second)
	if a := resolve(); a.Source != client.SourceServer {
		t.Errorf("past MaxStale: %+v, want a wait for the server", a)
	}
	if n := s.Requests("/d", "web.client.test"); n != 3 {
		t.Errorf("requests: %d, want 3", n)
	}

	t.Run("off", func(t *testing.T) {
		c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true, Now: clk.Now,
			MaxStale: -1})
		if _, err := c.Lookup(ctx, "n7.client.test"); err != nil {
			t.Fatal(err)
		}
		clk.Advance((zoneTTL + 1) * time.Second)
		if a, err := c.Resolve(ctx, "n7.client.test"); err != nil || a.Source != client.SourceServer {
			t.Errorf("expired with MaxStale off: %+v, %v; want from the server", a, err)
		}
	})
}

// TestLocalDNSFallback: with every server down the local resolver answers, and says so; a name the
// service has no address for goes to it too; turned off, the lookup fails with the servers' error.
func TestLocalDNSFallback(t *testing.T) {
	t.Parallel()
	s := startService(t)
	ctx := context.Background()
	t.Run("servers down", func(t *testing.T) {
		t.Parallel()
		local := startLocalDNS(t)
		var sources []client.Source
		var mu sync.Mutex
		c := newClient(t, client.Config{Servers: []string{deadURL(t), deadURL(t)}, LocalDNS: local.Resolver,
			Hooks: client.Hooks{Lookup: func(_ string, src client.Source, _ error) {
				mu.Lock()
				defer mu.Unlock()
				sources = append(sources, src)
			}}})
		for range 2 {
			a, err := c.Resolve(ctx, "two.client.test")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.Addrs, addrs("127.0.0.9")) || a.From != client.SourceLocalDNS {
				t.Errorf("%+v, want 127.0.0.9 from the local resolver", a)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if want := []client.Source{client.SourceLocalDNS, client.SourceCache}; !slices.Equal(sources, want) {
			t.Errorf("sources %v, want %v", sources, want)
		}
		if local.Queries() == 0 {
			t.Error("the local resolver was not asked")
		}
	})
	t.Run("no address at the server", func(t *testing.T) {
		t.Parallel()
		local := startLocalDNS(t)
		c := newClient(t, client.Config{Servers: []string{s.URL}, LocalDNS: local.Resolver})
		a, err := c.Resolve(ctx, "empty.client.test")
		if err != nil || a.Source != client.SourceLocalDNS || !slices.Equal(a.Addrs, addrs("127.0.0.9")) {
			t.Errorf("%+v, %v; want 127.0.0.9 from the local resolver", a, err)
		}
		_, err = c.Resolve(ctx, "nowhere.client.test")
		if !errors.Is(err, client.ErrNoAddresses) {
			t.Errorf("a name nobody has: %v, want ErrNoAddresses", err)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, client.Config{Servers: []string{deadURL(t)}, DisableLocalDNS: true})
		_, err := c.Lookup(ctx, "two.client.test")
		if !errors.Is(err, client.ErrServersUnavailable) {
			t.Errorf("err = %v, want ErrServersUnavailable", err)
		}
	})
}

// TestPreResolveBatches warms 12 names: Alibaba's door takes 5 a request, so 3 requests; httpdns's
// takes 10 and a client configured for 20 learns it from the TooManyHosts answer.
func TestPreResolveBatches(t *testing.T) {
	t.Parallel()
	s := startService(t)
	var names []string
	for i := range 12 {
		names = append(names, fmt.Sprintf("n%d.client.test", i+1))
	}
	for _, tc := range []struct {
		name     string
		cfg      client.Config
		requests int
	}{
		{"alibaba_v1", client.Config{API: client.APIAlibabaV1, AccountID: testAccount, Secret: testSecret}, 3},
		{"httpdns learns the limit", client.Config{BatchLimit: 20}, 3}, // 20 refused, then 10 + 2
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Servers = []string{s.URL}
			tc.cfg.DisableLocalDNS = true
			var requests int
			tc.cfg.Hooks.Request = func(string, time.Duration, error) { requests++ }
			c := newClient(t, tc.cfg)
			if err := c.PreResolve(context.Background(), names...); err != nil {
				t.Fatal(err)
			}
			if requests != tc.requests {
				t.Errorf("requests: %d, want %d", requests, tc.requests)
			}
			for i, n := range names {
				a, err := c.Resolve(context.Background(), n)
				if err != nil || a.Source != client.SourceCache || a.Addrs[0] != netip.AddrFrom4([4]byte{127, 0, 1, byte(i + 1)}) {
					t.Errorf("%s after PreResolve: %+v, %v", n, a, err)
				}
			}
		})
	}
}

// TestLookupBatch mixes a cached name, an IP literal, a bad name and names to ask in one call.
func TestLookupBatch(t *testing.T) {
	t.Parallel()
	s := startService(t)
	local := startLocalDNS(t)
	c := newClient(t, client.Config{Servers: []string{s.URL}, LocalDNS: local.Resolver})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "web.client.test"); err != nil {
		t.Fatal(err)
	}
	got, err := c.LookupBatch(ctx, []string{"web.client.test", "192.0.2.1", "bad_name!", "two.client.test",
		"empty.client.test", "two.client.test"})
	if err != nil {
		t.Fatal(err)
	}
	want := []client.Source{client.SourceCache, client.SourceLiteral, client.SourceNone, client.SourceServer,
		client.SourceLocalDNS, client.SourceServer}
	for i, a := range got {
		if a.Source != want[i] || (a.Err == nil) != (want[i] != client.SourceNone) {
			t.Errorf("answer %d: %+v, want from %v", i, a, want[i])
		}
	}
	if !errors.Is(got[2].Err, client.ErrInvalidHost) {
		t.Errorf("a bad name: %v, want ErrInvalidHost", got[2].Err)
	}
	if n := s.Requests("/resolve", "two.client.test,empty.client.test"); n != 1 {
		t.Errorf("batch requests: %d, want 1 of both names", n)
	}

	// One name of a batch failing at the service (its element carries "error") goes to the local
	// resolver; the others keep the service's answer.
	got, err = c.LookupBatch(ctx, []string{"n3.client.test", "fail.client.test"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Source != client.SourceServer || got[1].Source != client.SourceLocalDNS ||
		!slices.Equal(got[1].Addrs, addrs("127.0.0.9")) {
		t.Errorf("a batch with one failing name: %+v", got)
	}
}

// TestClosed: after Close a lookup fails with ErrClosed instead of starting work nobody stops.
func TestClosed(t *testing.T) {
	t.Parallel()
	s := startService(t)
	c, err := client.New(client.Config{Servers: []string{s.URL}, DisableLocalDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := c.Lookup(context.Background(), "web.client.test"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Lookup after Close: %v, want ErrClosed", err)
	}
	if s.Total() != 0 {
		t.Errorf("requests after Close: %d", s.Total())
	}
}

// TestConfigErrors: New reports every problem of a config at once.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	_, err := client.New(client.Config{Servers: []string{"ftp://x", "http://"}, API: client.APIAlibabaV1,
		Families: "5"})
	for _, want := range []string{`"ftp://x"`, `"http://"`, "account id", "families"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

// TestStaleKeptWhileServersFail: a server's answer past its TTL stays in use while the servers
// fail (RFC 8767), its refresh does not replace it with the local resolver's; a name never
// answered still gets the local resolver's.
func TestStaleKeptWhileServersFail(t *testing.T) {
	t.Parallel()
	s := startService(t)
	local := startLocalDNS(t)
	clk := newClock()
	c := newClient(t, client.Config{Servers: []string{s.URL}, LocalDNS: local.Resolver, Now: clk.Now})
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "web.client.test"); err != nil {
		t.Fatal(err)
	}
	s.Down(true)
	clk.Advance((zoneTTL + 5) * time.Second)
	for range 2 {
		a, err := c.Resolve(ctx, "web.client.test")
		if err != nil || a.Source != client.SourceStale || !slices.Equal(a.Addrs, addrs("127.0.0.3")) {
			t.Errorf("with the servers down: %+v, %v; want the stale server answer", a, err)
		}
		c.Settle() // the refresh failed
	}
	if local.Queries() != 0 {
		t.Errorf("the local resolver was asked %d times for a name with a stale server answer", local.Queries())
	}
	if a, err := c.Resolve(ctx, "n5.client.test"); err != nil || a.Source != client.SourceLocalDNS {
		t.Errorf("a miss with the servers down: %+v, %v; want the local resolver", a, err)
	}
}

// TestNoAddressCached: a server's answer of no address (local resolver off) is cached for its TTL
// like any other: the next lookup fails from the cache without a request, and the Lookup hook
// names the cache as its source.
func TestNoAddressCached(t *testing.T) {
	t.Parallel()
	s := startService(t)
	var mu sync.Mutex
	var sources []client.Source
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true,
		Hooks: client.Hooks{Lookup: func(_ string, src client.Source, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				sources = append(sources, src)
			}
		}}})
	for i, want := range []client.Source{client.SourceNone, client.SourceCache} {
		a, err := c.Resolve(context.Background(), "empty.client.test")
		if !errors.Is(err, client.ErrNoAddresses) || a.Source != want || len(a.Addrs) != 0 {
			t.Errorf("lookup %d: %+v, %v; want ErrNoAddresses from %v", i, a, err, want)
		}
	}
	if n := s.Requests("/d", "empty.client.test"); n != 1 {
		t.Errorf("requests: %d, want 1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []client.Source{client.SourceNone, client.SourceCache}; !slices.Equal(sources, want) {
		t.Errorf("failed lookups by source: %v, want %v", sources, want)
	}
}
