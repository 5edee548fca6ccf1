package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/httpdns/httpdns/internal/dnstest"
	"github.com/httpdns/httpdns/resolver"
)

// dohWorld is a real resolver (subnet tier by default, the project's test geo databases) over a real
// DNS server on 127.0.0.1, behind a real HTTP server. The DNS server answers by the first label:
//
//	nx.*       NXDOMAIN with a SOA (TTL 600, MINIMUM 45)
//	nodata.*   NOERROR, no answer, SOA (TTL 30, MINIMUM 300)
//	fail.*     SERVFAIL
//	otherwise  A 192.0.2.<the ECS /24's third byte> TTL 120, AAAA 2001:db8::1 TTL 240,
//	           MX 10 mail.<name>, TXT "v=spf1 -all", CNAME cname.target.test., each TTL 300;
//
// and echoes an ECS option with scope 20.
type dohWorld struct {
	url      string
	rec      *dnstest.Recorder
	upstream atomic.Int64 // queries the DNS server received
}

func newDoHWorld(t testing.TB) *dohWorld {
	t.Helper()
	d := &dohWorld{}
	d.rec = &dnstest.Recorder{Reply: func(q *dns.Msg) *dns.Msg {
		d.upstream.Add(1)
		m := new(dns.Msg).SetReply(q)
		qq := q.Question[0]
		label, _, _ := strings.Cut(qq.Name, ".")
		rr := func(s string) { r, err := dns.NewRR(s); m.Answer = append(m.Answer, r); _ = err }
		switch label {
		case "nx":
			m.Rcode = dns.RcodeNameError
			soa, _ := dns.NewRR("test. 600 IN SOA ns.test. host.test. 1 3600 600 86400 45")
			m.Ns = append(m.Ns, soa)
		case "nodata":
			soa, _ := dns.NewRR("test. 30 IN SOA ns.test. host.test. 1 3600 600 86400 300")
			m.Ns = append(m.Ns, soa)
		case "fail":
			m.Rcode = dns.RcodeServerFailure
		default:
			third := 0
			if e := dnsmsg.ECS(q); e != nil && e.Address.To4() != nil {
				third = int(e.Address.To4()[2])
			}
			switch qq.Qtype {
			case dns.TypeA:
				rr(qq.Name + " 120 IN A 192.0.2." + strconv.Itoa(third))
			case dns.TypeAAAA:
				rr(qq.Name + " 240 IN AAAA 2001:db8::1")
			case dns.TypeMX:
				rr(qq.Name + " 300 IN MX 10 mail." + qq.Name)
			case dns.TypeTXT:
				rr(qq.Name + ` 300 IN TXT "v=spf1 -all"`)
			case dns.TypeCNAME:
				rr(qq.Name + " 300 IN CNAME cname.target.test.")
			}
		}
		if e := dnsmsg.ECS(q); e != nil {
			m.SetEdns0(dnsmsg.UDPSize, false)
			e.SourceScope = 20
			m.IsEdns0().Option = append(m.IsEdns0().Option, e)
		}
		return m
	}}
	addr := dnstest.Start(t, d.rec)
	db, err := cidrdb.Open(cidrdb.Config{CityPath: "../testdata/world-city.mmdb", ISPPath: "../testdata/world-isp.mmdb"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	wl, err := resolver.OpenWhitelist("", cache.TierSubnet)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(cache.Config{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	res, err := resolver.New(resolver.Config{Upstreams: []string{addr}, Locator: db, Cache: c, Policy: wl,
		HedgeMin: -1, SweepInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	ta := newTestAPI(t, Config{Resolver: res})
	srv := httptest.NewServer(ta.Public())
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

// lastQuery is the last query the DNS server received for name.
func (d *dohWorld) lastQuery(t *testing.T, name string) *dns.Msg {
	t.Helper()
	qs := d.rec.Queries()
	for i := len(qs) - 1; i >= 0; i-- {
		if strings.EqualFold(qs[i].Question[0].Name, dns.Fqdn(name)) {
			return qs[i]
		}
	}
	t.Fatalf("no upstream query for %s", name)
	return nil
}

// dohGet sends m as an RFC 8484 GET and returns the response and its DNS message (nil if not 200).
func dohGet(t *testing.T, base string, m *dns.Msg) (*http.Response, *dns.Msg) {
	t.Helper()
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return dohDo(t, http.MethodGet, base+"/dns-query?dns="+base64.RawURLEncoding.EncodeToString(wire), "", nil)
}

func dohPost(t *testing.T, base string, m *dns.Msg) (*http.Response, *dns.Msg) {
	t.Helper()
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return dohDo(t, http.MethodPost, base+"/dns-query", "application/dns-message", wire)
}

func dohDo(t *testing.T, method, url, ct string, body []byte) (*http.Response, *dns.Msg) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	if ctype := resp.Header.Get("Content-Type"); ctype != "application/dns-message" {
		t.Fatalf("Content-Type %q, want application/dns-message", ctype)
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("unpacking the reply: %v", err)
	}
	return resp, m
}

func maxAgeOf(t *testing.T, resp *http.Response) uint32 {
	t.Helper()
	v, ok := strings.CutPrefix(resp.Header.Get("Cache-Control"), "max-age=")
	n, err := strconv.ParseUint(v, 10, 32)
	if !ok || err != nil {
		t.Fatalf("Cache-Control %q, want max-age=N", resp.Header.Get("Cache-Control"))
	}
	return uint32(n)
}

func withECS(m *dns.Msg, p string) *dns.Msg {
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, dnsmsg.ECSOption(netip.MustParsePrefix(p)))
	return m
}

func TestDoH(t *testing.T) {
	t.Parallel()
	d := newDoHWorld(t)

	t.Run("A by GET through the cache", func(t *testing.T) {
		q := new(dns.Msg).SetQuestion("www.example.test.", dns.TypeA)
		q.Id = 0xbeef
		resp, m := dohGet(t, d.url, q)
		if m == nil {
			t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
		if m.Id != 0xbeef || !m.Response || !m.RecursionAvailable || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Fatalf("reply %v", m)
		}
		a, ok := m.Answer[0].(*dns.A)
		if !ok || a.Hdr.Name != "www.example.test." || a.Hdr.Ttl == 0 || a.Hdr.Ttl > 120 {
			t.Errorf("answer %v, want an A record of www.example.test. with TTL in (0,120]", m.Answer[0])
		}
		if age := maxAgeOf(t, resp); age > a.Hdr.Ttl || age == 0 {
			t.Errorf("max-age %d, want ≤ the TTL %d and > 0", age, a.Hdr.Ttl)
		}
		n := d.upstream.Load()
		q.Id = 0 // RFC 8484 §4.1's recommended ID: echoed too
		if _, m := dohGet(t, d.url, q); m == nil || m.Id != 0 || len(m.Answer) != 1 {
			t.Errorf("second reply %v", m)
		}
		if got := d.upstream.Load(); got != n {
			t.Errorf("the second query went upstream (%d -> %d queries): not a cache hit", n, got)
		}
	})

	t.Run("AAAA by POST", func(t *testing.T) {
		q := new(dns.Msg).SetQuestion("v6.example.test.", dns.TypeAAAA)
		q.Id = 7
		resp, m := dohPost(t, d.url, q)
		if m == nil || m.Id != 7 || len(m.Answer) != 1 {
			t.Fatalf("status %d, reply %v", resp.StatusCode, m)
		}
		if aaaa, ok := m.Answer[0].(*dns.AAAA); !ok || aaaa.AAAA.String() != "2001:db8::1" {
			t.Errorf("answer %v", m.Answer[0])
		}
	})

	t.Run("NXDOMAIN and NODATA", func(t *testing.T) {
		resp, m := dohGet(t, d.url, new(dns.Msg).SetQuestion("nx.example.test.", dns.TypeA))
		if m == nil || m.Rcode != dns.RcodeNameError || len(m.Answer) != 0 {
			t.Fatalf("reply %v", m)
		}
		if age := maxAgeOf(t, resp); age == 0 || age > 45 {
			t.Errorf("NXDOMAIN max-age %d, want in (0, the SOA MINIMUM 45]", age)
		}
		// RFC 2308: a negative answer carries an SOA, whose TTL and MINIMUM say how long to cache it.
		if len(m.Ns) != 1 {
			t.Fatalf("NXDOMAIN authority %v, want one SOA", m.Ns)
		}
		if soa, ok := m.Ns[0].(*dns.SOA); !ok || soa.Hdr.Name != "nx.example.test." || soa.Minttl == 0 ||
			soa.Minttl > 45 || soa.Hdr.Ttl != soa.Minttl {
			t.Errorf("NXDOMAIN authority %v, want an SOA of the name with the remaining negative TTL", m.Ns[0])
		}
		resp, m = dohGet(t, d.url, new(dns.Msg).SetQuestion("nodata.example.test.", dns.TypeAAAA))
		if m == nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
			t.Fatalf("reply %v", m)
		}
		if age := maxAgeOf(t, resp); age == 0 || age > 30 {
			t.Errorf("NODATA max-age %d, want in (0, the SOA TTL 30]", age)
		}
		if len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("NODATA authority %v, want one SOA", m.Ns)
		}
	})

	t.Run("ECS honoured and echoed with our scope", func(t *testing.T) {
		q := withECS(new(dns.Msg).SetQuestion("ecs.example.test.", dns.TypeA), "20.1.77.0/24")
		_, m := dohPost(t, d.url, q)
		if m == nil || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.77" {
			t.Fatalf("reply %v, want the answer for 20.1.77.0/24", m)
		}
		sent := dnsmsg.ECS(d.lastQuery(t, "ecs.example.test"))
		if p, _ := dnsmsg.ECSPrefix(sent); p.String() != "20.1.77.0/24" {
			t.Errorf("upstream ECS %v, want 20.1.77.0/24", sent)
		}
		e := dnsmsg.ECS(m)
		if e == nil {
			t.Fatal("no ECS in the reply")
		}
		if p, _ := dnsmsg.ECSPrefix(e); p.String() != "20.1.77.0/24" || e.SourceScope != 24 {
			t.Errorf("reply ECS %v/%d scope %d, want 20.1.77.0/24 scope 24 (the answer's cache key, the /24 block)", e.Address, e.SourceNetmask, e.SourceScope)
		}
	})

	t.Run("other types forwarded", func(t *testing.T) {
		for _, tt := range []struct {
			qtype uint16
			want  string
		}{
			{dns.TypeMX, "10 mail.fwd.example.test."},
			{dns.TypeTXT, `"v=spf1 -all"`},
			{dns.TypeCNAME, "cname.target.test."},
			{dns.TypeHTTPS, ""}, // NODATA from upstream: answered, not refused
		} {
			q := withECS(new(dns.Msg).SetQuestion("fwd.example.test.", tt.qtype), "20.1.5.0/24")
			q.Id = tt.qtype
			resp, m := dohGet(t, d.url, q)
			if m == nil || m.Id != tt.qtype || m.Rcode != dns.RcodeSuccess {
				t.Fatalf("type %d: status %d reply %v", tt.qtype, resp.StatusCode, m)
			}
			switch {
			case tt.want == "" && len(m.Answer) != 0:
				t.Errorf("type %d: answer %v, want none", tt.qtype, m.Answer)
			case tt.want != "" && (len(m.Answer) != 1 || !strings.HasSuffix(m.Answer[0].String(), "\t"+tt.want)):
				t.Errorf("type %d: answer %v, want %s", tt.qtype, m.Answer, tt.want)
			}
			if tt.want != "" && maxAgeOf(t, resp) != 300 {
				t.Errorf("type %d: max-age %s, want 300", tt.qtype, resp.Header.Get("Cache-Control"))
			}
			sent := d.lastQuery(t, "fwd.example.test")
			if p, _ := dnsmsg.ECSPrefix(dnsmsg.ECS(sent)); p.String() != "20.1.5.0/24" || !sent.RecursionDesired {
				t.Errorf("type %d: upstream query %v", tt.qtype, sent)
			}
		}
	})

	t.Run("A of a name outside the host-name grammar is forwarded", func(t *testing.T) {
		n := d.upstream.Load()
		_, m := dohGet(t, d.url, new(dns.Msg).SetQuestion("host.123.", dns.TypeA)) // an all-digit top label
		if m == nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Fatalf("reply %v, want the upstream's A record", m)
		}
		if d.upstream.Load() != n+1 {
			t.Errorf("%d upstream queries, want 1", d.upstream.Load()-n)
		}
	})

	t.Run("SERVFAIL is a DNS answer", func(t *testing.T) {
		resp, m := dohGet(t, d.url, new(dns.Msg).SetQuestion("fail.example.test.", dns.TypeA))
		if m == nil || m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("status %d reply %v", resp.StatusCode, m)
		}
		if maxAgeOf(t, resp) != 0 {
			t.Errorf("SERVFAIL max-age %s, want 0", resp.Header.Get("Cache-Control"))
		}
		if _, m := dohGet(t, d.url, new(dns.Msg).SetQuestion("fail.example.test.", dns.TypeMX)); m == nil || m.Rcode != dns.RcodeServerFailure {
			t.Errorf("forwarded SERVFAIL: %v", m)
		}
	})
}

func TestDoHBadInput(t *testing.T) {
	t.Parallel()
	d := newDoHWorld(t)
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	q := func() *dns.Msg { return new(dns.Msg).SetQuestion("bad.example.test.", dns.TypeA) }
	two := q()
	two.Question = append(two.Question, two.Question[0])
	resp := q()
	resp.Response = true
	notify := q()
	notify.Opcode = dns.OpcodeNotify
	none := q()
	none.Question = nil
	badECS := q()
	badECS.SetEdns0(1232, false) // family 1 with a /40 source
	badECS.IsEdns0().Option = append(badECS.IsEdns0().Option,
		&dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: []byte{0, 1, 40, 0, 1, 2, 3, 4, 5}})
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

	for _, tt := range []struct {
		name         string
		method, path string
		ct           string
		body         []byte
		status       int
		code         string
	}{
		{"no dns=", "GET", "/dns-query", "", nil, 400, CodeMissingArgument},
		{"not base64url", "GET", "/dns-query?dns=%21%21%21", "", nil, 400, CodeInvalidDNSMessage},
		{"standard base64", "GET", "/dns-query?dns=ab+/", "", nil, 400, CodeInvalidDNSMessage},
		{"not a message", "GET", "/dns-query?dns=" + b64([]byte{1, 2, 3}), "", nil, 400, CodeInvalidDNSMessage},
		{"two questions", "GET", "/dns-query?dns=" + b64(pack(two)), "", nil, 400, CodeInvalidDNSMessage},
		{"no question", "POST", "/dns-query", "application/dns-message", pack(none), 400, CodeInvalidDNSMessage},
		{"QR set", "POST", "/dns-query", "application/dns-message", pack(resp), 400, CodeInvalidDNSMessage},
		{"opcode NOTIFY", "POST", "/dns-query", "application/dns-message", pack(notify), 400, CodeInvalidDNSMessage},
		{"bad ECS", "POST", "/dns-query", "application/dns-message", pack(badECS), 400, CodeInvalidDNSMessage},
		{"wrong media type", "POST", "/dns-query", "application/json", pack(q()), 415, CodeUnsupportedMediaType},
		{"no media type", "POST", "/dns-query", "", pack(q()), 415, CodeUnsupportedMediaType},
		{"too large", "POST", "/dns-query", "application/dns-message", make([]byte, MaxDNSMessageBytes+1), 413, CodePayloadTooLarge},
		{"PUT", "PUT", "/dns-query", "application/dns-message", pack(q()), 405, CodeMethodNotAllowed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := dohDo(t, tt.method, d.url+tt.path, tt.ct, tt.body)
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tt.status)
			}
			var e errorBody
			body, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(body, &e); err != nil || e.Code != tt.code || e.Message == "" {
				t.Errorf("body %s, want code %s and a message", body, tt.code)
			}
		})
	}
	if n := d.upstream.Load(); n != 0 {
		t.Errorf("bad input made %d upstream queries", n)
	}
}

// TestDoHConcurrent POSTs 20 concurrent misses for one name: each gets its own ID back, and the
// resolver's singleflight makes them one upstream query.
func TestDoHConcurrent(t *testing.T) {
	t.Parallel()
	d := newDoHWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan string, 20)
	for i := range 20 {
		go func() {
			q := new(dns.Msg).SetQuestion("many.example.test.", dns.TypeA)
			q.Id = uint16(i)
			wire, _ := q.Pack()
			req, _ := http.NewRequestWithContext(ctx, "POST", d.url+"/dns-query", bytes.NewReader(wire))
			req.Header.Set("Content-Type", "application/dns-message")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			m := new(dns.Msg)
			if err := m.Unpack(b); err != nil || m.Id != uint16(i) || len(m.Answer) != 1 {
				errs <- "bad reply " + m.String()
				return
			}
			errs <- ""
		}()
	}
	for range 20 {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
	if n := d.upstream.Load(); n != 1 {
		t.Errorf("20 concurrent queries for one name made %d upstream queries, want 1", n)
	}
}
