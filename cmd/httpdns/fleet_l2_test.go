package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/internal/redistest"
)

func TestParseConfigL2(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		extra   string
		on      bool
		timeout time.Duration
	}{
		{"", true, 5 * time.Millisecond},
		{"fleet: {redis: [a:6379]}", true, 5 * time.Millisecond},
		{"fleet: {redis: [a:6379], l2_cache: false, l2_timeout: 20ms}", false, 20 * time.Millisecond},
		{"fleet: {redis: [a:6379], l2_timeout: 1s}", true, time.Second},
	} {
		c, err := ParseConfig([]byte(baseYAML+tc.extra), testDir)
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		if c.Fleet.L2Cache != tc.on || time.Duration(c.Fleet.L2Timeout) != tc.timeout {
			t.Errorf("%q: l2_cache %v, l2_timeout %v; want %v, %v", tc.extra, c.Fleet.L2Cache, c.Fleet.L2Timeout, tc.on, tc.timeout)
		}
	}
	for _, bad := range []string{"0s", "-5ms", "1001ms", "1m"} {
		_, err := ParseConfig([]byte(baseYAML+"fleet: {redis: [a:6379], l2_timeout: "+bad+"}"), testDir)
		if err == nil || !strings.Contains(err.Error(), "fleet.l2_timeout") || !strings.Contains(err.Error(), "(0, 1s]") {
			t.Errorf("l2_timeout %s: %v, want an error naming fleet.l2_timeout and its range", bad, err)
		}
	}
}

// Two serve nodes on one real Redis share answers: B's miss for what A fetched is answered from the shared
// cache with no upstream query, visible in B's /metrics; a node with l2_cache off does not read it.
func TestServeFleetL2(t *testing.T) {
	t.Parallel()
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	upstream := cdnsim.StartTest(t, w)
	redisAddr := redistest.Start(t)
	var nodes []*testService
	for _, l2 := range []string{"true", "true", "false"} {
		extra := fmt.Sprintf("fleet: {redis: [%s], sync_interval: 1h, l2_cache: %s, l2_timeout: 500ms}\n", redisAddr, l2)
		nodes = append(nodes, startService(t, w, writeTestConfig(t, w, t.TempDir(), []string{upstream.Addr()}, extra)))
	}
	a, b, off := nodes[0], nodes[1], nodes[2]
	host, client := "img.cdn-a.test", w.ClientIn(w.Subnets()[5], 10)
	ask := func(s *testService) map[string]any {
		t.Helper()
		code, body := get(t, s.public+"/d?host="+host+"&ip="+client.String())
		if code != http.StatusOK || len(ipsOf(body, "ips")) == 0 {
			t.Fatalf("/d on %s: %d %v", s.public, code, body)
		}
		return body
	}
	first := ask(a)
	waitUntil(t, 5*time.Second, "node A wrote nothing to the shared cache", func() bool {
		return metricValue(t, a, `httpdns_l2_writes_total{result="ok"}`) == 1
	})
	asked := upstream.QueriesFor(host)
	got := ask(b)
	if n := upstream.QueriesFor(host); n != asked {
		t.Errorf("node B asked upstream: %d queries for %s, want %d", n, host, asked)
	}
	if fmt.Sprint(ipsOf(got, "ips")) != fmt.Sprint(ipsOf(first, "ips")) || got["ttl"].(float64) > first["ttl"].(float64) {
		t.Errorf("node B answered %v, want A's answer %v with at most its TTL", got, first)
	}
	for series, want := range map[string]float64{
		`httpdns_l2_requests_total{result="hit"}`:                    1,
		`httpdns_l2_requests_total{result="miss"}`:                   0,
		`httpdns_resolver_l2_values_total{result="used"}`:            1,
		`httpdns_l2_breaker_open`:                                    0,
		`httpdns_cache_requests_total{result="miss",tier="cityisp"}`: 1,
	} {
		if v := metricValue(t, b, series); v != want {
			t.Errorf("node B: %s = %v, want %v", series, v, want)
		}
	}
	ask(off)
	if n := upstream.QueriesFor(host); n != asked+1 {
		t.Errorf("the node with l2_cache off: %d upstream queries, want %d", n, asked+1)
	}
	if v := metricValue(t, off, `httpdns_l2_requests_total{result="miss"}`); v != 0 {
		t.Errorf("the node with l2_cache off read the shared cache: %v misses", v)
	}
}

// With the fleet's Redis killed a node keeps answering every miss from upstream, within the request's
// time plus little, and its shared-cache breaker opens (httpdns_l2_breaker_open 1): later misses make no
// Redis attempt at all.
func TestServeFleetL2RedisDown(t *testing.T) {
	t.Parallel()
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	upstream := cdnsim.StartTest(t, w)
	srv := redistest.NewServer(t)
	extra := fmt.Sprintf("default_tier: subnet\nfleet: {redis: [%s], sync_interval: 1h}\n", srv.Addr) // every /24 its own key
	node := startService(t, w, writeTestConfig(t, w, t.TempDir(), []string{upstream.Addr()}, extra))
	srv.Stop()
	for i := range 12 {
		start := time.Now()
		code, body := get(t, node.public+"/d?host=img.cdn-a.test&ip="+w.ClientIn(w.Subnets()[i*7], 10).String())
		if code != http.StatusOK || len(ipsOf(body, "ips")) == 0 {
			t.Fatalf("miss %d with Redis down: %d %v", i, code, body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("miss %d with Redis down took %v", i, d)
		}
	}
	if v := metricValue(t, node, "httpdns_l2_breaker_open"); v != 1 {
		t.Errorf("httpdns_l2_breaker_open = %v after 12 misses with Redis down, want 1", v)
	}
	failed := metricValue(t, node, `httpdns_l2_requests_total{result="error"}`) + metricValue(t, node, `httpdns_l2_requests_total{result="timeout"}`)
	skipped := metricValue(t, node, `httpdns_l2_requests_total{result="skipped"}`)
	if failed > 5 || failed+skipped != 12 {
		t.Errorf("L2 reads with Redis down: %v failed, %v skipped; want at most 5 attempts, then the breaker skipping", failed, skipped)
	}
}
