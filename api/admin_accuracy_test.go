package api

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/httpdns/httpdns/internal/dnstest"
	"github.com/httpdns/httpdns/resolver"
	"github.com/miekg/dns"
)

// oneCity puts every client in one city and ISP, its block its /24.
type oneCity struct{}

func (oneCity) Locate(a netip.Addr) cidrdb.Location {
	p, _ := a.Prefix(dnsmsg.SourceBits(a))
	return cidrdb.Location{Addr: a, Block: p, Network: p, Country: "CN", City: "Shenzhen", ISP: "Telecom"}
}

// checksDone counts the checks res has judged.
func checksDone(res *resolver.Resolver) uint64 {
	var n uint64
	for _, byResult := range res.Accuracy().Counts {
		for _, c := range byResult {
			n += c
		}
	}
	return n
}

// accuracyAnswer is GET /admin/accuracy's JSON as a client reads it.
type accuracyAnswer struct {
	Enabled       bool                         `json:"enabled"`
	Sample        int                          `json:"sample"`
	MaxPerSecond  float64                      `json:"max_per_second"`
	Checks        map[string]map[string]uint64 `json:"checks"`
	MismatchRatio map[string]float64           `json:"mismatch_ratio"`
	Skipped       map[string]uint64            `json:"skipped"`
	Mismatches    []struct {
		Time   time.Time `json:"time"`
		Name   string    `json:"name"`
		Qtype  uint16    `json:"qtype"`
		Client string    `json:"client"`
		Served []string  `json:"served"`
		Fresh  []string  `json:"fresh"`
		Tier   string    `json:"tier"`
		Key    string    `json:"key"`
		Scope  int       `json:"scope"`
		Source string    `json:"source"`
	} `json:"mismatches"`
}

// TestAdminAccuracy runs a real resolver with a check of every answer over a real DNS server whose
// CDN sends each /24 to its own edge (203.0.<third byte>.1), so two /24s of one city+ISP key
// disagree, and reads the result from GET /admin/accuracy.
func TestAdminAccuracy(t *testing.T) {
	t.Parallel()
	rec := &dnstest.Recorder{Reply: func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		third := byte(0)
		if e := dnsmsg.ECS(q); e != nil {
			src, _ := dnsmsg.ECSPrefix(e)
			third = src.Addr().As4()[2]
			m.SetEdns0(dnsmsg.UDPSize, false)
			echo := *e
			echo.SourceScope = e.SourceNetmask
			m.IsEdns0().Option = append(m.IsEdns0().Option, &echo)
		}
		rr, _ := dns.NewRR(q.Question[0].Name + " 300 IN A " + netip.AddrFrom4([4]byte{203, 0, third, 1}).String())
		m.Answer = append(m.Answer, rr)
		return m
	}}
	wl, err := resolver.OpenWhitelist("", cache.TierCityISP)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(cache.Config{MaxBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	res, err := resolver.New(resolver.Config{Upstreams: []string{dnstest.Start(t, rec)}, Locator: oneCity{}, Cache: c,
		Policy: wl, HedgeMin: -1, SweepInterval: time.Hour, Accuracy: resolver.AccuracyConfig{Sample: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ta := newTestAPI(t, Config{Resolver: res, AdminToken: "s3cret"})
	for _, ip := range []string{"20.1.2.3", "20.1.5.9"} {
		if w := get(ta.Public(), "/d?host=www.acc.test&query=4&ip="+ip); w.Code != http.StatusOK {
			t.Fatalf("/d for %s: %d %s", ip, w.Code, w.Body)
		}
		c.Wait()
	}
	// The checks run in the background; Close would cancel those still asking, so wait for both.
	for deadline := time.Now().Add(5 * time.Second); checksDone(res) < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	res.Close()

	t.Run("needs the token", func(t *testing.T) {
		if w := get(ta.Admin(), "/admin/accuracy"); w.Code != http.StatusUnauthorized {
			t.Errorf("without a token: %d", w.Code)
		}
		if w := get(ta.Admin(), "/admin/accuracy", withHeader("Authorization", "Bearer nope")); w.Code != http.StatusUnauthorized {
			t.Errorf("with a wrong token: %d", w.Code)
		}
		if w := do(ta.Admin(), http.MethodPost, "/admin/accuracy", nil, withHeader("Authorization", "Bearer s3cret")); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", w.Code)
		}
	})
	t.Run("counts and the mismatch log", func(t *testing.T) {
		w := get(ta.Admin(), "/admin/accuracy", withHeader("Authorization", "Bearer s3cret"))
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%d %s %s", w.Code, w.Header().Get("Content-Type"), w.Body)
		}
		var got accuracyAnswer
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if !got.Enabled || got.Sample != 1 || got.MaxPerSecond != resolver.DefaultAccuracyPerSecond {
			t.Errorf("config %+v", got)
		}
		want := map[string]map[string]uint64{
			"subnet":  {"match": 0, "mismatch": 0, "unknown": 0},
			"cityisp": {"match": 1, "mismatch": 1, "unknown": 0},
			"global":  {"match": 0, "mismatch": 0, "unknown": 0},
		}
		for tier, byResult := range want {
			for r, n := range byResult {
				if got.Checks[tier][r] != n {
					t.Errorf("checks %v, want %v", got.Checks, want)
				}
			}
		}
		if got.MismatchRatio["cityisp"] != 0.5 || got.MismatchRatio["subnet"] != 0 {
			t.Errorf("mismatch ratio %v", got.MismatchRatio)
		}
		if len(got.Skipped) != 4 {
			t.Errorf("skipped %v, want every reason", got.Skipped)
		}
		if len(got.Mismatches) != 1 {
			t.Fatalf("mismatches %+v", got.Mismatches)
		}
		m := got.Mismatches[0]
		if m.Name != "www.acc.test" || m.Qtype != 1 || m.Client != "20.1.5.0/24" || !slices.Equal(m.Served, []string{"203.0.2.1"}) ||
			!slices.Equal(m.Fresh, []string{"203.0.5.1"}) || m.Tier != "cityisp" || m.Key == "" || m.Scope != 24 ||
			m.Source != "hit" || m.Time.IsZero() {
			t.Errorf("mismatch %+v", m)
		}
	})
	t.Run("a resolver without checks", func(t *testing.T) {
		other := newTestAPI(t, Config{AdminToken: "s3cret"}) // the fake resolver
		w := get(other.Admin(), "/admin/accuracy", withHeader("Authorization", "Bearer s3cret"))
		if w.Code != http.StatusNotFound {
			t.Errorf("%d %s", w.Code, w.Body)
		}
	})
}
