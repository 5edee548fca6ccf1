package console

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/resolver"
)

// explainer answers like a resolver with one cached answer for 20.0.16.0/24.
type explainer struct{}

func (explainer) Explain(_ context.Context, q resolver.Query) (resolver.Explanation, error) {
	if q.Name == "bad..name" {
		return resolver.Explanation{}, resolver.ErrInvalidName
	}
	block := netip.MustParsePrefix("20.0.16.0/22")
	return resolver.Explanation{
		Name: q.Name, Qtype: q.Qtype, Client: q.Client,
		Rule:     resolver.Rule{Pattern: "*.cdn-a.test", Tier: cache.TierSubnet},
		Location: cidrdb.Location{Block: block, Network: block, BlockID: 7, Country: "CN", City: "Shenzhen", ISP: "Telecom"},
		Source:   netip.MustParsePrefix("20.0.16.0/24"),
		Key:      cache.Key{Name: q.Name, Qtype: q.Qtype, Tier: cache.TierSubnet, Scope: block.String()},
		Cached: resolver.CachedEntry{Found: true, Result: cache.Hit, IPs: []netip.Addr{netip.MustParseAddr("61.0.36.1")},
			TTL: 300, Remaining: 120},
		Fresh: resolver.FreshAnswer{IPs: []netip.Addr{netip.MustParseAddr("61.0.36.2")}, TTL: 300, Scope: 22},
	}, nil
}

// testConsole is a console over a real CIDRDB file, a probe report and the test series.
type testConsole struct {
	*Console
	h    http.Handler
	dir  string
	db   atomic.Pointer[cidrdb.DB]
	reg  *series
	path string
}

func newTestConsole(t *testing.T) *testConsole {
	t.Helper()
	tc := &testConsole{dir: t.TempDir(), reg: newSeries(t)}
	tc.path = filepath.Join(tc.dir, "cidrdb.mmdb")
	tc.swap(t, []cidrdb.Record{
		{Network: netip.MustParsePrefix("20.0.16.0/22"), BlockID: 7, Country: "CN", City: "Shenzhen", ISP: "Telecom"},
		{Network: netip.MustParsePrefix("20.0.20.0/24"), BlockID: 8, Country: "CN", City: "Shenzhen", ISP: "Telecom"},
		{Network: netip.MustParsePrefix("21.0.0.0/24"), BlockID: 9, Country: "CN", City: "Beijing", ISP: "Unicom"},
	})
	report := filepath.Join(tc.dir, "probe-report.json")
	if err := os.WriteFile(report, []byte(`{"blocks_before":3,"blocks_after":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Gatherer: tc.reg.reg, Interval: time.Second, Samples: 4, Explainer: explainer{},
		CIDRDB: tc.db.Load, CIDRDBPath: tc.path, ProbeReport: report})
	if err != nil {
		t.Fatal(err)
	}
	tc.Console, tc.h = c, c.Handler()
	return tc
}

// swap writes recs as the CIDRDB file and opens it as the serving one, as a reload does.
func (tc *testConsole) swap(t *testing.T, recs []cidrdb.Record) {
	t.Helper()
	if err := cidrdb.WriteFile(tc.path, recs); err != nil {
		t.Fatal(err)
	}
	db, err := cidrdb.OpenCIDRDB(tc.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tc.db.Store(db)
}

func (tc *testConsole) do(t *testing.T, method, target string, body string, into any) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	tc.h.ServeHTTP(w, httptest.NewRequest(method, target, strings.NewReader(body)))
	if into != nil {
		if err := json.Unmarshal(w.Body.Bytes(), into); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, target, w.Code, w.Body, err)
		}
	}
	return w
}

func TestPagesAndHeaders(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t)
	for _, path := range []string{"/console/", "/console/console.js", "/console/console.css", "/console/api/history"} {
		w := tc.do(t, http.MethodGet, path, "", nil)
		if w.Code != http.StatusOK {
			t.Errorf("%s: %d", path, w.Code)
		}
		h := w.Header()
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			strings.Contains(csp, "unsafe-inline") || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, h)
		}
	}
	index := tc.do(t, http.MethodGet, "/console/", "", nil).Body.String()
	// No inline script: every <script> has a src, and no element carries an on* handler or a style.
	for _, re := range []string{`<script[^>]*>[^<]`, `\son[a-z]+=`, `\sstyle=`} {
		if m := regexp.MustCompile(re).FindString(index); m != "" {
			t.Errorf("index.html has %q", m)
		}
	}
	if strings.Count(index, "<script") != strings.Count(index, `<script src="console.js"`) {
		t.Error("index.html has a script without src")
	}
	js := tc.do(t, http.MethodGet, "/console/console.js", "", nil).Body.String()
	for _, bad := range []string{"innerHTML", "localStorage", "eval(", "token=", "?token"} {
		if strings.Contains(js, bad) {
			t.Errorf("console.js uses %q", bad)
		}
	}
	if !strings.Contains(js, "sessionStorage") || !strings.Contains(js, `"Authorization": "Bearer "`) {
		t.Error("console.js does not keep the token in sessionStorage and send it as a bearer header")
	}
	if w := tc.do(t, http.MethodGet, "/console/api/nothing", "", nil); w.Code != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d", w.Code)
	}
}

func TestOverviewEndpoint(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t)
	t0 := time.Now()
	_ = tc.ring.take(tc.reg.reg, t0)
	tc.reg.requests.WithLabelValues("d", "200").Add(30)
	_ = tc.ring.take(tc.reg.reg, t0.Add(time.Second))
	var ov overview
	tc.do(t, http.MethodGet, "/console/api/overview", "", &ov)
	if ov.IntervalSeconds != 1 || ov.Capacity != 4 || len(ov.Samples) != 1 || ov.Samples[0].RPS != 30 {
		t.Errorf("overview %+v", ov)
	}
}

func TestLookupEndpoint(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t)
	var got lookupJSON
	tc.do(t, http.MethodGet, "/console/api/lookup?client=20.0.16.217&name=img.cdn-a.test&type=A", "", &got)
	if got.Tier != "subnet" || got.Key != "subnet 20.0.16.0/22" || got.ECS != "20.0.16.0/24" || got.Location.City != "Shenzhen" ||
		got.Cached == nil || got.Cached.State != "fresh" || got.Cached.Remaining != 120 || got.Fresh == nil ||
		got.Fresh.Scope != "20.0.16.0/22" || got.Agree == nil || *got.Agree {
		t.Errorf("lookup %+v", got)
	}
	for _, q := range []string{"client=nope&name=a.test", "client=1.2.3.4&name=a.test&type=MX", "client=1.2.3.4&name=bad..name"} {
		if w := tc.do(t, http.MethodGet, "/console/api/lookup?"+q, "", nil); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, w.Code, w.Body)
		}
	}
}

func TestValidateEndpoint(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t)
	var v validation
	tc.do(t, http.MethodPost, "/console/api/validate", "# ok\napi.example.com subnet\nbad line here too many\n*.cdn.test global active\nx.test nowhere\n", &v)
	if v.OK || len(v.Errors) != 2 || v.Errors[0].Line != 3 || v.Errors[1].Line != 5 || v.Errors[1].Text != "x.test nowhere" || v.Errors[0].Message == "" {
		t.Errorf("validation %+v", v)
	}
	tc.do(t, http.MethodPost, "/console/api/validate", "api.example.com subnet\n*.cdn.test global active\n", &v)
	if !v.OK || v.Rules != 2 || len(v.Errors) != 0 {
		t.Errorf("good whitelist: %+v", v)
	}
}

func TestRecordHistory(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t)
	// The admin handler stands in: it reads the body and accepts it unless it says "bad".
	admin := tc.Record(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if bytes.Contains(b, []byte("bad")) {
			http.Error(w, "bad", http.StatusBadRequest)
		}
	}))
	put := func(path, body string, agent string) {
		r := httptest.NewRequest(http.MethodPut, path, strings.NewReader(body))
		r.Header.Set("User-Agent", agent)
		admin.ServeHTTP(httptest.NewRecorder(), r)
	}
	put("/admin/domains", "a.test subnet\n", "curl/8.5.0")
	put("/admin/domains", "bad", "curl/8.5.0")
	put("/admin/domains", "b.test global\n", "curl/8.5.0")
	put("/admin/accounts", `{"accounts":[]}`, "Go-http-client/1.1")
	put("/admin/fleet", "x", "curl/8.5.0")
	var h map[string][]Version
	tc.do(t, http.MethodGet, "/console/api/history", "", &h)
	wl := h["whitelist"]
	if len(wl) != 2 || wl[0].Version != 2 || wl[0].Size != len("b.test global\n") || wl[1].Version != 1 ||
		wl[0].SHA256 != "f7e13d8db34b3eb1b1e4b4526468332f7c0373b57b92c4653bbd6d4998920ebc" || wl[0].Who != "192.0.2.1 (curl/8.5.0)" {
		t.Errorf("whitelist history %+v", wl)
	}
	if acc := h["accounts"]; len(acc) != 1 || acc[0].Version != 1 {
		t.Errorf("accounts history %+v", acc)
	}
}

func TestCIDRDBEndpoints(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t)
	var got cidrdbJSON
	tc.do(t, http.MethodGet, "/console/api/cidrdb", "", &got)
	if !got.Configured || got.Summary == nil || got.Summary.Blocks != 3 || len(got.CityISP) != 2 ||
		got.CityISP[0].City != "Shenzhen" || got.CityISP[0].Blocks != 2 || got.Diff != nil ||
		len(got.Busiest) != 3 || got.Busiest[0] != "20.0.0.0/16" || got.Busiest[1] != "20.0.0.0/8" || !strings.Contains(string(got.ProbeReport), `"blocks_after":2`) {
		t.Errorf("cidrdb %+v", got)
	}
	// A reload swaps in a CIDRDB where blocks 7 and 8 merged: the page shows the diff.
	tc.swap(t, []cidrdb.Record{
		{Network: netip.MustParsePrefix("20.0.16.0/22"), BlockID: 7, Country: "CN", City: "Shenzhen", ISP: "Telecom"},
		{Network: netip.MustParsePrefix("20.0.20.0/24"), BlockID: 7, Country: "CN", City: "Shenzhen", ISP: "Telecom"},
		{Network: netip.MustParsePrefix("21.0.0.0/24"), BlockID: 9, Country: "CN", City: "Beijing", ISP: "Unicom"},
	})
	got = cidrdbJSON{}
	tc.do(t, http.MethodGet, "/console/api/cidrdb", "", &got)
	if got.Diff == nil || got.Diff.OldBlocks != 3 || got.Diff.NewBlocks != 2 || got.Diff.Merged.Blocks != 1 {
		t.Errorf("after the swap: diff %+v", got.Diff)
	}

	var loc struct {
		IP string `json:"ip"`
		locationJSON
	}
	tc.do(t, http.MethodGet, "/console/api/cidrdb/lookup?ip=20.0.20.9", "", &loc)
	if loc.BlockID != 7 || loc.Block != "20.0.16.0/22" || loc.Network != "20.0.20.0/24" {
		t.Errorf("lookup %+v", loc)
	}

	w := tc.do(t, http.MethodGet, "/console/api/cidrdb/map.png?prefix=20.0.0.0/8&color=city", "", nil)
	img, err := png.Decode(w.Body)
	if err != nil || w.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("map: %v %v", err, w.Header())
	}
	painted := 0
	for y := range mapSide {
		for x := range mapSide {
			if r, g, b, _ := img.At(x, y).RGBA(); uint8(r>>8) != background.R || uint8(g>>8) != background.G || uint8(b>>8) != background.B {
				painted++
			}
		}
	}
	if painted != 5 {
		t.Errorf("map of 20.0.0.0/8 painted %d pixels, want 5 (a /22 and a /24)", painted)
	}
	if w := tc.do(t, http.MethodGet, "/console/api/cidrdb/map.png?prefix=2001:db8::/32", "", nil); w.Code != http.StatusBadRequest {
		t.Errorf("IPv6 map: %d", w.Code)
	}
}

func TestWithoutParts(t *testing.T) {
	t.Parallel()
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := c.Handler()
	for path, want := range map[string]int{"/console/api/overview": 404, "/console/api/lookup?client=1.2.3.4&name=a.test": 404,
		"/console/api/cidrdb/map.png": 404, "/console/api/cidrdb": 200} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != want {
			t.Errorf("%s: %d, want %d", path, w.Code, want)
		}
	}
	if _, err := New(Config{Samples: -1}); err == nil {
		t.Error("negative samples accepted")
	}
}
