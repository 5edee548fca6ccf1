package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/miekg/dns"
)

// testService is `httpdns serve` running in-process on 127.0.0.1:0 against the simulated world.
type testService struct {
	world  *cdnsim.World
	dir    string
	public string // base URL
	admin  string // base URL
	stop   context.CancelFunc
	done   chan error
	once   sync.Once
}

// writeTestConfig writes geo databases and a config for the world into dir and returns its path.
func writeTestConfig(t *testing.T, w *cdnsim.World, dir string, upstreams []string, extra string) string {
	t.Helper()
	if _, _, err := w.WriteGeoDBs(dir); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nadmin_token: secret\nupstreams: [%s]\n"+
		"geoip: {city: %s, isp: %s}\n%s", quoteList(upstreams), cdnsim.CityDBName, cdnsim.ISPDBName, extra)
	path := filepath.Join(dir, "httpdns.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startService runs serve with the config at path and waits until it listens.
func startService(t *testing.T, w *cdnsim.World, path string) *testService {
	t.Helper()
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &testService{world: w, dir: filepath.Dir(path), stop: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		s.done <- serve(ctx, cfg, logger, func(pub, adm net.Addr) {
			s.public, s.admin = "http://"+pub.String(), "http://"+adm.String()
			close(ready)
		})
	}()
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not listen within 10 s")
	}
	t.Cleanup(func() { s.shutdown(t) })
	return s
}

// shutdown cancels serve, as SIGTERM does, and waits for it to drain and return.
func (s *testService) shutdown(t *testing.T) {
	s.once.Do(func() {
		s.stop()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop within 15 s")
		}
	})
}

func startWorld(t *testing.T, nodes int) (*cdnsim.World, []*cdnsim.Server) {
	t.Helper()
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var servers []*cdnsim.Server
	for range nodes {
		servers = append(servers, cdnsim.StartTest(t, w))
	}
	return w, servers
}

func addrsOf(servers []*cdnsim.Server) []string {
	var out []string
	for _, s := range servers {
		out = append(out, s.Addr())
	}
	return out
}

func get(t *testing.T, url string, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v", url, err)
	}
	return resp.StatusCode, body
}

func ipsOf(body map[string]any, key string) []netip.Addr {
	var out []netip.Addr
	list, _ := body[key].([]any)
	for _, v := range list {
		s, _ := v.(string)
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 3)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "domains.txt"), []byte("*.cdn-a.test subnet active\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startService(t, w, writeTestConfig(t, w, dir, addrsOf(servers), ""))
	a, b := demoClients(w, "img.cdn-a.test")

	t.Run("per-subnet answers match the CDN's truth", func(t *testing.T) {
		for _, c := range []netip.Addr{a, b} {
			code, body := get(t, s.public+"/d?host=img.cdn-a.test&ip="+c.String())
			if code != 200 || !slices.Equal(ipsOf(body, "ips"), w.Truth("img.cdn-a.test", dns.TypeA, c)) {
				t.Errorf("client %v: %d %v, truth %v", c, code, body, w.Truth("img.cdn-a.test", dns.TypeA, c))
			}
			if body["client_ip"] != c.String() || body["ttl"].(float64) <= 0 || body["origin_ttl"].(float64) != 300 {
				t.Errorf("client %v: body %v", c, body)
			}
		}
	})
	t.Run("batch and IPv6", func(t *testing.T) {
		code, body := get(t, s.public+"/resolve?host=img.cdn-a.test,www.portal.test&query=4,6&ip="+a.String())
		list, _ := body["dns"].([]any)
		if code != 200 || len(list) != 4 {
			t.Fatalf("batch: %d %v", code, body)
		}
		first := list[0].(map[string]any)
		if first["host"] != "img.cdn-a.test" || first["type"].(float64) != 1 {
			t.Errorf("batch order: %v", list)
		}
	})
	t.Run("bad input is a 4xx JSON error", func(t *testing.T) {
		for url, want := range map[string]string{
			"/d":                             "MissingArgument",
			"/d?host=a..b":                   "InvalidHost",
			"/d?host=a.test&ip=1.2.3":        "InvalidIP",
			"/d?host=a.test&query=5":         "InvalidQuery",
			"/resolve?host=" + manyHosts(11): "TooManyHosts",
		} {
			code, body := get(t, s.public+url)
			if code != 400 || body["code"] != want {
				t.Errorf("%s: %d %v, want 400 %s", url, code, body, want)
			}
		}
	})
	t.Run("healthz and metrics", func(t *testing.T) {
		if code, _ := get(t, s.public+"/healthz"); code != 200 {
			t.Errorf("public /healthz: %d", code)
		}
		resp, err := http.Get(s.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, series := range []string{"httpdns_cache_entries", "httpdns_cache_requests_total", "httpdns_upstream_queries_total",
			"httpdns_http_requests_total", "httpdns_http_request_duration_seconds"} {
			if !strings.Contains(string(text), series) {
				t.Errorf("/metrics lacks %s", series)
			}
		}
	})
}

func manyHosts(n int) string {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("h%d.test", i)
	}
	return strings.Join(hosts, ",")
}

func put(t *testing.T, url, token, body string) (int, map[string]any) {
	t.Helper()
	return do(t, http.MethodPut, url, token, body)
}

// do sends an admin request with a bearer token and decodes the JSON answer.
func do(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", method, url, err)
	}
	return resp.StatusCode, out
}

func TestServeWhitelistUploadAppliesAndPersists(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	dir := t.TempDir()
	path := writeTestConfig(t, w, dir, addrsOf(servers), "")
	s := startService(t, w, path)
	c := w.ClientIn(w.Subnets()[0], 1)
	tierOf := func(base string) string {
		_, body := get(t, base+"/resolve?host=img.cdn-a.test&ip="+c.String())
		list, _ := body["dns"].([]any)
		if len(list) != 1 {
			t.Fatalf("resolve: %v", body)
		}
		_, d := get(t, base+"/d?host=img.cdn-a.test&ip="+c.String())
		scope, _ := d["scope"].(string)
		return scope
	}
	before := tierOf(s.public)
	if code, body := put(t, s.admin+"/admin/domains", "wrong", "img.cdn-a.test subnet\n"); code != 401 {
		t.Errorf("wrong token: %d %v", code, body)
	}
	code, body := put(t, s.admin+"/admin/domains", "secret", "# ok\nimg.cdn-a.test subnet\nbroken line here too\n")
	if code != 400 || body["code"] != "InvalidWhitelist" || !strings.Contains(fmt.Sprint(body["message"]), "line 3") {
		t.Errorf("bad upload: %d %v, want 400 InvalidWhitelist naming line 3", code, body)
	}
	if code, body := put(t, s.admin+"/admin/domains", "secret", "img.cdn-a.test subnet\n"); code != 200 {
		t.Fatalf("upload: %d %v", code, body)
	}
	after := tierOf(s.public)
	if before == after || after != netip.PrefixFrom(c, 24).Masked().String() {
		t.Errorf("scope before upload %q, after %q: the upload did not move the name to the subnet tier", before, after)
	}
	// Restart: the whitelist is read back from the file the upload wrote.
	s.shutdown(t)
	s2 := startService(t, w, path)
	if got := tierOf(s2.public); got != after {
		t.Errorf("after restart scope %q, want %q", got, after)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "domains.txt")); err != nil || string(b) != "img.cdn-a.test subnet\n" {
		t.Errorf("domains.txt = %q, %v", b, err)
	}
}

func TestServeRejectsBadStart(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	tests := map[string]struct {
		mutate func(dir string)
		extra  string
		want   string
	}{
		"corrupt city db": {mutate: func(dir string) {
			os.WriteFile(filepath.Join(dir, cdnsim.CityDBName), []byte("not an mmdb"), 0o644)
		}, want: cdnsim.CityDBName},
		"bad whitelist file": {mutate: func(dir string) {
			os.WriteFile(filepath.Join(dir, "domains.txt"), []byte("a.test subnet\nb.test warp\n"), 0o644)
		}, want: "line 2"},
		"missing cidrdb": {extra: "cidrdb: nope.mmdb\n", want: "nope.mmdb"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := writeTestConfig(t, w, dir, addrsOf(servers), tt.extra)
			if tt.mutate != nil {
				tt.mutate(dir)
			}
			cfg, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			err = serve(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(net.Addr, net.Addr) {
				t.Error("serve started with a bad setup")
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestServeUpstreamOutage(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 3)
	dir := t.TempDir()
	s := startService(t, w, writeTestConfig(t, w, dir, addrsOf(servers), "ttl: {max: 1s, min: 1s}\ncache: {refresh_grace: 1ms}\n"))
	c := w.ClientIn(w.Subnets()[3], 3)
	code, fresh := get(t, s.public+"/d?host=img.cdn-a.test&ip="+c.String())
	if code != 200 {
		t.Fatalf("before the outage: %d %v", code, fresh)
	}
	for _, srv := range servers {
		srv.SetBehavior(cdnsim.Silent)
	}
	time.Sleep(1100 * time.Millisecond) // let the 1 s answer expire past the grace: the next ask must go upstream
	code, body := get(t, s.public+"/d?host=img.cdn-a.test&ip="+c.String())
	if code != 200 || fmt.Sprint(body["ips"]) != fmt.Sprint(fresh["ips"]) || body["ttl"].(float64) != 30 {
		t.Errorf("cached name during the outage: %d %v, want the old answer with TTL 30", code, body)
	}
	start := time.Now()
	code, body = get(t, s.public+"/d?host=api.cdn-a.test&ip="+c.String())
	if code != 503 || body["code"] != "UpstreamUnavailable" {
		t.Errorf("uncached name during the outage: %d %v, want 503 UpstreamUnavailable", code, body)
	}
	if d := time.Since(start); d > 3*time.Second+500*time.Millisecond {
		t.Errorf("uncached name failed after %v, want about the 3 s request deadline at most", d)
	}
}

func TestDemoMakesItsDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "demo")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runDemo(ctx, []string{"-dir", dir, "-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0", "-nodes", "1"},
			io.Discard, io.Discard)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "httpdns.yaml")); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("demo stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("demo wrote no config into a directory that did not exist")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo: %v", err)
	}
}
