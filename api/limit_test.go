package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/httpdns/httpdns/resolver"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLimiterBucket(t *testing.T) {
	t.Parallel()
	l := newLimiter(2, 3, 1000)
	clk := newFakeClock()
	a := netip.MustParseAddr("198.51.100.7")
	for i := range 3 {
		if ok, _ := l.allow(a, clk.now()); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.allow(a, clk.now())
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request: allowed %v, wait %v; want refused, 500ms", ok, wait)
	}
	if ok, _ := l.allow(netip.MustParseAddr("198.51.100.8"), clk.now()); !ok {
		t.Error("another client refused")
	}
	clk.advance(500 * time.Millisecond)
	if ok, _ := l.allow(a, clk.now()); !ok {
		t.Error("refused after a token refilled")
	}
	if ok, _ := l.allow(a, clk.now()); ok {
		t.Error("allowed a second request on one refilled token")
	}
	clk.advance(time.Hour) // refills to the burst, not beyond
	for i := range 4 {
		ok, _ := l.allow(a, clk.now())
		if ok != (i < 3) {
			t.Errorf("after an hour, request %d: allowed %v", i, ok)
		}
	}
}

func TestLimiterDefaultBurst(t *testing.T) {
	t.Parallel()
	for qps, want := range map[float64]int{0.5: 1, 1: 1, 2.5: 3, 10: 10} {
		l := newLimiter(qps, 0, 1000)
		clk := newFakeClock()
		n := 0
		for {
			if ok, _ := l.allow(netip.MustParseAddr("192.0.2.1"), clk.now()); !ok {
				break
			}
			n++
		}
		if n != want {
			t.Errorf("qps %v: burst %d, want %d", qps, n, want)
		}
	}
	if newLimiter(0, 5, 10) != nil {
		t.Error("qps 0 built a limiter")
	}
}

// An IPv6 client is limited by its /64: the addresses a host makes up inside it share one bucket.
func TestLimiterIPv6Per64(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 2, 1000)
	clk := newFakeClock()
	for i, s := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if ok, _ := l.allow(netip.MustParseAddr(s), clk.now()); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	if ok, _ := l.allow(netip.MustParseAddr("2001:db8:1:2:abcd::1"), clk.now()); ok {
		t.Error("a third address of the same /64 got past a burst of 2")
	}
	if ok, _ := l.allow(netip.MustParseAddr("2001:db8:1:3::1"), clk.now()); !ok {
		t.Error("the next /64 was refused")
	}
	if ok, _ := l.allow(netip.MustParseAddr("::ffff:192.0.2.1"), clk.now()); !ok {
		t.Error("an IPv4-mapped client was refused")
	}
}

// Many addresses cost bounded memory, and buckets idle for their refill time are dropped without
// changing any answer.
func TestLimiterBounded(t *testing.T) {
	t.Parallel()
	const clients = 4096
	l := newLimiter(1, 1, clients)
	clk := newFakeClock()
	for i := range 200_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.allow(a, clk.now())
	}
	if n := l.clients(); n > clients+2*limitShards {
		t.Errorf("%d buckets held, bound %d", n, clients)
	}
	// A client limited a moment ago stays limited while others come and go at a normal pace.
	hot := netip.MustParseAddr("203.0.113.5")
	l.allow(hot, clk.now())
	for i := range 100 {
		l.allow(netip.AddrFrom4([4]byte{172, 16, 0, byte(i)}), clk.now())
	}
	if ok, _ := l.allow(hot, clk.now()); ok {
		t.Error("a limited client's bucket was lost to a few other clients")
	}
	// After the refill time every shard starts a new generation on its next use; two of them later
	// nothing old is left.
	for range 2 {
		clk.advance(2 * time.Second)
		for i := range 10 * limitShards {
			l.allow(netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)}), clk.now())
		}
	}
	if n := l.clients(); n > 10*limitShards {
		t.Errorf("%d buckets held after the old ones idled out, want at most %d", n, 10*limitShards)
	}
}

// limitedServer is a real HTTP server over an API limited to 1 request a second with a burst of
// 3, whose loopback peer is a trusted proxy, so X-Forwarded-For names the client.
func limitedServer(t *testing.T, cfg Config) (*testAPI, *httptest.Server, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	cfg.ClientQPS, cfg.ClientBurst, cfg.Now = 1, 3, clk.now
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	ta := newTestAPI(t, cfg)
	srv := httptest.NewServer(ta.Public())
	t.Cleanup(srv.Close)
	return ta, srv, clk
}

// fetch sends a GET for path to srv as client (X-Forwarded-For; "" for none).
func fetch(t *testing.T, srv *httptest.Server, method, path, client string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if client != "" {
		req.Header.Set("X-Forwarded-For", client)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestRateLimitHTTP(t *testing.T) {
	t.Parallel()
	ta, srv, clk := limitedServer(t, Config{})
	const path = "/d?host=www.example.com"
	for i := range 3 {
		// ip= is the answer's client, not the limited one: changing it gains nothing.
		if resp, body := fetch(t, srv, "GET", path+"&ip=192.0.2."+string(rune('1'+i)), "198.51.100.1"); resp.StatusCode != 200 {
			t.Fatalf("request %d of the burst: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := fetch(t, srv, "GET", path+"&ip=192.0.2.9", "198.51.100.1")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the burst: %d Retry-After %q, want 429 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Code != CodeTooManyRequests {
		t.Errorf("429 body %s (%v), want code %s", body, err, CodeTooManyRequests)
	}
	if resp, _ := fetch(t, srv, "GET", "/resolve?host=a.example.com", "198.51.100.1"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("/resolve of the limited client: %d, want 429: one limit for every door", resp.StatusCode)
	}
	if resp, body := fetch(t, srv, "GET", path, "198.51.100.2"); resp.StatusCode != 200 {
		t.Errorf("another client: %d %s", resp.StatusCode, body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, _ := fetch(t, srv, "GET", p, "198.51.100.1"); resp.StatusCode != 200 {
			t.Errorf("%s of the limited client: %d, want 200", p, resp.StatusCode)
		}
	}
	if got := testutil.ToFloat64(ta.limitMetrics.rateLimited); got != 2 {
		t.Errorf("httpdns_http_rate_limited_total = %v, want 2", got)
	}
	if got := testutil.ToFloat64(ta.metrics.requests.WithLabelValues("other", "429")); got != 2 {
		t.Errorf("requests{other,429} = %v, want 2", got)
	}
	clk.advance(time.Second)
	if resp, body := fetch(t, srv, "GET", path, "198.51.100.1"); resp.StatusCode != 200 {
		t.Errorf("a second later: %d %s", resp.StatusCode, body)
	}
	// The admin handler is never limited.
	adm := httptest.NewServer(ta.Admin())
	defer adm.Close()
	for range 10 {
		if resp, _ := fetch(t, adm, "GET", "/healthz", "198.51.100.1"); resp.StatusCode != 200 {
			t.Fatalf("admin /healthz: %d", resp.StatusCode)
		}
	}
}

// Doors whose wire format has no error body get a bare 429.
func TestRateLimitBareDoors(t *testing.T) {
	t.Parallel()
	_, srv, _ := limitedServer(t, Config{})
	for range 3 {
		fetch(t, srv, "GET", "/healthz?x", "") // not limited
	}
	for range 3 {
		fetch(t, srv, "GET", "/nothing", "")
	}
	for _, tt := range []struct{ method, path string }{
		{"POST", "/dns-query"},
		{"GET", "/dns-query?dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB"},
		{"GET", "/d?dn=www.example.com&ttl=1"},
		{"GET", "/conf?id=1&alg=des"},
	} {
		resp, body := fetch(t, srv, tt.method, tt.path, "")
		if resp.StatusCode != http.StatusTooManyRequests || len(body) != 0 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: %d %q Retry-After %q, want a bare 429", tt.method, tt.path, resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
	}
	resp, body := fetch(t, srv, "GET", "/dns-query?name=www.example.com", "")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), CodeTooManyRequests) {
		t.Errorf("JSON /dns-query: %d %s, want a JSON 429", resp.StatusCode, body)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 90 * time.Second: 90} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestIPParam(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		mode           IPParam
		peer, query    string
		want           string
		status         int
		ignored        float64
		trustedProxies []netip.Prefix
	}{
		{IPParamAny, "203.0.113.9:1", "&ip=198.51.100.4", "198.51.100.4", 200, 0, nil},
		{"", "203.0.113.9:1", "&ip=198.51.100.4", "198.51.100.4", 200, 0, nil},
		{IPParamAny, "203.0.113.9:1", "&ip=bogus", "", 400, 0, nil},
		{IPParamTrusted, "10.1.1.1:1", "&ip=198.51.100.4", "198.51.100.4", 200, 0, trusted},
		{IPParamTrusted, "10.1.1.1:1", "&ip=bogus", "", 400, 0, trusted},
		{IPParamTrusted, "203.0.113.9:1", "&ip=198.51.100.4", "203.0.113.9", 200, 1, trusted},
		{IPParamTrusted, "203.0.113.9:1", "&ip=bogus", "203.0.113.9", 200, 1, trusted},
		{IPParamTrusted, "203.0.113.9:1", "&ip=", "203.0.113.9", 200, 0, trusted},
		{IPParamTrusted, "10.1.1.1:1", "&ip=198.51.100.4", "10.1.1.1", 200, 1, nil},
		{IPParamOff, "10.1.1.1:1", "&ip=198.51.100.4", "10.1.1.1", 200, 1, trusted},
		{IPParamOff, "203.0.113.9:1", "&ip=198.51.100.4", "203.0.113.9", 200, 1, nil},
	}
	for _, tt := range tests {
		name := string(tt.mode) + " " + tt.peer + tt.query
		if tt.trustedProxies != nil {
			name += " trusted"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ta := newTestAPI(t, Config{IPParam: tt.mode, TrustedProxies: tt.trustedProxies})
			for _, path := range []string{"/d?host=www.example.com", "/resolve?host=www.example.com"} {
				w := get(ta.Public(), path+tt.query, fromPeer(tt.peer))
				if w.Code != tt.status {
					t.Fatalf("%s: status %d, want %d: %s", path, w.Code, tt.status, w.Body)
				}
				if tt.status == 200 && !strings.Contains(w.Body.String(), `"client_ip":"`+tt.want+`"`) {
					t.Errorf("%s: %s, want client_ip %s", path, w.Body, tt.want)
				}
			}
			if got := testutil.ToFloat64(ta.limitMetrics.ipIgnored); got != 2*tt.ignored {
				t.Errorf("httpdns_http_ip_param_ignored_total = %v, want %v", got, 2*tt.ignored)
			}
		})
	}
}

func TestLimitConfigErrors(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{ClientQPS: -1}, {ClientBurst: -1}, {RateLimitClients: -1}, {IPParam: "some"},
	} {
		cfg.Resolver = &fakeResolver{}
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// The DNS-message doors take a client-chosen subnet (the ECS option, edns_client_subnet) only when
// ip_param lets the request choose; an ignored subnet is not echoed.
func TestIPParamDNSMessageDoors(t *testing.T) {
	t.Parallel()
	const name = "www.example.com"
	for _, tt := range []struct {
		mode   IPParam
		client string // whose answer
		echo   bool
	}{
		{IPParamAny, "20.1.77.9", true},
		{IPParamTrusted, "127.0.0.1", false}, // no trusted proxies: nobody may choose
		{IPParamOff, "127.0.0.1", false},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Parallel()
			ta := newTestAPI(t, Config{IPParam: tt.mode})
			srv := httptest.NewServer(ta.Public())
			defer srv.Close()
			want := fakeIPs(name, resolver.TypeA, tt.client)

			q := withECS(new(dns.Msg).SetQuestion(name+".", dns.TypeA), "20.1.77.0/24")
			_, m := dohPost(t, srv.URL, q)
			if m == nil || len(m.Answer) != 2 || m.Answer[0].(*dns.A).A.String() != want[0] {
				t.Fatalf("RFC 8484 reply %v, want the answer for %s (%v)", m, tt.client, want)
			}
			if e := dnsmsg.ECS(m); (e != nil) != tt.echo {
				t.Errorf("RFC 8484 reply ECS %v, want echoed: %v", e, tt.echo)
			}

			resp, body := fetch(t, srv, "GET", "/resolve?name="+name+"&edns_client_subnet=20.1.77.0/24", "")
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"`+want[0]+`"`) {
				t.Errorf("Google JSON: %d %s, want the answer for %s (%v)", resp.StatusCode, body, tt.client, want)
			}
			if got := strings.Contains(string(body), "edns_client_subnet"); got != tt.echo {
				t.Errorf("Google JSON %s: edns_client_subnet echoed %v, want %v", body, got, tt.echo)
			}
			wantIgnored := 0.0
			if !tt.echo {
				wantIgnored = 2
			}
			if got := testutil.ToFloat64(ta.limitMetrics.ipIgnored); got != wantIgnored {
				t.Errorf("httpdns_http_ip_param_ignored_total = %v, want %v", got, wantIgnored)
			}
		})
	}
}

// BenchmarkLimiterAllow is the rate limit's cost on a request: one client, and clients spread
// over many addresses (the table turning over).
//
//	go test -run '^$' -bench LimiterAllow -benchmem ./api
func BenchmarkLimiterAllow(b *testing.B) {
	for _, n := range []int{1, 1 << 20} {
		b.Run(strconv.Itoa(n)+"_clients", func(b *testing.B) {
			l := newLimiter(1e9, 1e9, DefaultRateLimitClients)
			now := time.Now()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := uint32(0)
				for pb.Next() {
					k := i % uint32(n)
					i++
					l.allow(netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}), now)
				}
			})
		})
	}
}

// BenchmarkDRateLimited is the cache-hit /d of BenchmarkDParallel with the rate limit on (a limit
// no request reaches, every request from one client: the worst case for its lock), beside it off.
//
//	go test -run '^$' -bench DRateLimited -benchmem ./api
func BenchmarkDRateLimited(b *testing.B) {
	for _, qps := range []float64{0, 1e12} {
		b.Run("client_qps="+strconv.FormatFloat(qps, 'g', -1, 64), func(b *testing.B) {
			ta := newTestAPI(b, Config{Resolver: fixedResolver{resolver.Answer{
				Name: "api.example.com", Qtype: resolver.TypeA, TTL: 57, OriginTTL: 60,
				IPs: []netip.Addr{netip.MustParseAddr("203.0.113.10")}, Scope: "192.0.2.0/24", Tier: "subnet",
			}}, ClientQPS: qps, ClientBurst: 1 << 30})
			serveParallel(b, ta.Public(), "/d?host=api.example.com")
		})
	}
}
