package client_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/httpdns/httpdns/api"
	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/internal/dnstest"
	"github.com/httpdns/httpdns/resolver"
)

// The names of the test zone client.test, answered by zoneHandler behind the real service:
//
//	two.client.test    A 127.0.0.2, 127.0.0.3 (nothing listens on .2 in the tests: a dead edge)
//	web.client.test    A 127.0.0.3
//	dual.client.test   A 127.0.0.3, AAAA ::1
//	empty.client.test  no addresses (NOERROR, empty)
//	fail.client.test   SERVFAIL: the service answers UpstreamUnavailable
//	nN.client.test     A 127.0.1.N, for batches
const (
	testAccount = "100000"
	testSecret  = "IAmASecret"
	zoneTTL     = 60
)

// zoneHandler answers client.test and hands every other name to the simulated CDN world.
type zoneHandler struct {
	world dns.Handler
}

func (z zoneHandler) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	name := strings.ToLower(q.Question[0].Name)
	if !dns.IsSubDomain("client.test.", name) {
		z.world.ServeDNS(w, q)
		return
	}
	m := new(dns.Msg).SetReply(q)
	m.Authoritative = true
	qt := q.Question[0].Qtype
	add := func(s string) {
		ip := netip.MustParseAddr(s)
		hdr := dns.RR_Header{Name: q.Question[0].Name, Class: dns.ClassINET, Ttl: zoneTTL}
		switch {
		case ip.Is4() && qt == dns.TypeA:
			hdr.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip.AsSlice()})
		case ip.Is6() && qt == dns.TypeAAAA:
			hdr.Rrtype = dns.TypeAAAA
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
		}
	}
	label, _, _ := strings.Cut(name, ".")
	switch {
	case label == "two":
		add("127.0.0.2")
		add("127.0.0.3")
	case label == "web":
		add("127.0.0.3")
	case label == "dual":
		add("127.0.0.3")
		add("::1")
	case label == "empty":
	case label == "fail":
		m.Rcode = dns.RcodeServerFailure
	case len(label) > 1 && label[0] == 'n' && strings.Trim(label[1:], "0123456789") == "":
		add("127.0.1." + label[1:])
	default:
		m.Rcode = dns.RcodeNameError
	}
	if opt := q.IsEdns0(); opt != nil { // echo ECS with scope 0 as a global answer
		m.SetEdns0(opt.UDPSize(), false)
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_SUBNET); ok {
				echo := *e
				echo.SourceScope = 0
				m.IsEdns0().Option = append(m.IsEdns0().Option, &echo)
			}
		}
	}
	_ = w.WriteMsg(m)
}

var (
	worldOnce sync.Once
	world     *cdnsim.World
	worldErr  error
)

func sharedWorld(t testing.TB) *cdnsim.World {
	t.Helper()
	worldOnce.Do(func() { world, worldErr = cdnsim.NewWorld(cdnsim.DefaultConfig()) })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return world
}

// service is a real httpdns service in-process: the api over the resolver, its cache and CIDRDB
// on the simulated world's geo databases, asking a real DNS server that answers client.test
// itself and the world's names as the world's authoritative does.
type service struct {
	URL   string
	world *cdnsim.World
	srv   *httptest.Server
	api   *api.API

	mu       sync.Mutex
	requests map[string]int // "path host=" → requests
	total    atomic.Int64
	hold     atomic.Pointer[func(*http.Request)] // if set, runs before each request is served
	down     atomic.Bool                         // answer every request 503 InternalError
}

// Down makes the service answer every request 503 (true) or serve again (false).
func (s *service) Down(down bool) { s.down.Store(down) }

// Hold makes f run before each request is served (nil: none), e.g. to keep one waiting.
func (s *service) Hold(f func(*http.Request)) { s.hold.Store(&f) }

// startService starts a service; it trusts 127.0.0.1 as a proxy, so a test can say which client
// it is with X-Forwarded-For (see xffTransport).
func startService(t testing.TB) *service {
	t.Helper()
	s := &service{world: sharedWorld(t), requests: map[string]int{}}
	dir := t.TempDir()
	city, isp, err := s.world.WriteGeoDBs(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := cidrdb.Open(cidrdb.Config{CityPath: city, ISPPath: isp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	wl, err := resolver.OpenWhitelist("", cache.TierCityISP)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c, err := cache.New(cache.Config{MaxBytes: 16 << 20, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	upstream := dnstest.Start(t, zoneHandler{world: cdnsim.StartTest(t, s.world)})
	r, err := resolver.New(resolver.Config{Upstreams: []string{upstream}, Locator: db, Cache: c, Policy: wl,
		Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	s.api, err = api.New(api.Config{Resolver: r, Registerer: reg,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Accounts: []api.Account{
			{ID: testAccount, Alibaba: &api.AlibabaAccount{Secret: testSecret}},
			{ID: "signed", Alibaba: &api.AlibabaAccount{Secret: testSecret, SignedOnly: true}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.count(r)
		if f := s.hold.Load(); f != nil && *f != nil {
			(*f)(r)
		}
		if s.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"code":"InternalError","message":"down for the test"}`)
			return
		}
		s.api.Public().ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	return s
}

func (s *service) count(r *http.Request) {
	s.total.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[r.URL.Path+" "+r.URL.Query().Get("host")]++
}

// Requests returns how many requests the service received for path with host= hosts.
func (s *service) Requests(path, hosts string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path+" "+hosts]
}

// Total returns how many requests the service received.
func (s *service) Total() int { return int(s.total.Load()) }

// xffTransport sends every request with X-Forwarded-For set to the current client address, which
// the service (trusting 127.0.0.1) answers for: the test moves the client between networks.
type xffTransport struct {
	client atomic.Pointer[netip.Addr]
	base   http.RoundTripper
}

func newXFF(ip netip.Addr) *xffTransport {
	x := &xffTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	x.client.Store(&ip)
	return x
}

func (x *xffTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", x.client.Load().String())
	return x.base.RoundTrip(r)
}

func (x *xffTransport) Move(ip netip.Addr) { x.client.Store(&ip) }

// clock is a fake clock for the client's TTLs.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// localDNS is an in-process DNS server behind a net.Resolver that asks only it: the LocalDNS of
// the fallback tests. It answers every A query with 127.0.0.9 and counts the queries.
type localDNS struct {
	Resolver *net.Resolver
	queries  atomic.Int64
}

func startLocalDNS(t testing.TB) *localDNS {
	t.Helper()
	l := &localDNS{}
	addr := dnstest.Start(t, dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		l.queries.Add(1)
		m := new(dns.Msg).SetReply(q)
		if q.Question[0].Qtype == dns.TypeA && !strings.HasPrefix(q.Question[0].Name, "nowhere.") {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 30}, A: net.IPv4(127, 0, 0, 9)})
		}
		_ = w.WriteMsg(m)
	}))
	l.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	return l
}

func (l *localDNS) Queries() int { return int(l.queries.Load()) }

// deadURL is the URL of a server that refuses connections: a listener closed at once.
func deadURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}
