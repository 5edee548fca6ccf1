// Package prometheus holds the Prometheus scrape config, recording rules and alerts for httpdns
// (prometheus.yml, alerts.yml) and the Grafana dashboard; its tests check the rules with Debian's
// promtool and run Debian's prometheus against a real `httpdns demo`.
package prometheus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/loadtest/demoproc"
)

// Bounds on every wait, so a broken setup fails the test instead of hanging it.
const (
	buildTimeout = 3 * time.Minute  // go build of cmd/httpdns (cold cache included) and the demo's start
	startTimeout = 30 * time.Second // a child process until it answers
	ruleTimeout  = 60 * time.Second // prometheus until a recording rule has a value
)

// tool returns the path of a Debian tool, or skips the test saying how to get it.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found (Debian: apt-get install prometheus); skipping", name)
	}
	return p
}

// TestRules checks alerts.yml and runs its unit tests (alerts_test.yml): each alert fires on the
// series it is meant for and not before its time.
func TestRules(t *testing.T) {
	promtool := tool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"check", "config", "prometheus.yml"}, {"test", "rules", "alerts_test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestDashboard checks that the Grafana dashboard is JSON whose panels query only series httpdns
// exports or the recording rules of alerts.yml.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if d.Title == "" || len(d.Panels) < 6 {
		t.Fatalf("dashboard %q has %d panels; want a title and at least 6", d.Title, len(d.Panels))
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, "httpdns") {
				t.Errorf("panel %q queries %q, not an httpdns series", p.Title, q.Expr)
			}
		}
	}
}

// TestPrometheusAgainstServe runs the demo (a real serve on the simulated world), sends it traffic,
// runs Debian's prometheus with prometheus.yml's job pointed at the demo's admin listener and
// alerts.yml evaluated every second, and reads the hit-ratio recording rule's value back through
// Prometheus's HTTP API. Every rule must evaluate without an error against the real series.
func TestPrometheusAgainstServe(t *testing.T) {
	promBin := tool(t, "prometheus")
	if testing.Short() {
		t.Skip("runs a real serve and prometheus; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	demo, err := demoproc.Start(ctx) // builds httpdns, runs the demo and warms a subnet-tier question
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(demo.Close)
	ask := func(ip string) {
		u, _ := url.Parse(demo.URL)
		q := u.Query()
		q.Set("ip", ip)
		u.RawQuery = q.Encode()
		res, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	// Traffic: one name from a few clients, twice, so there are misses and hits.
	for range 2 {
		for i := range 8 {
			ask(fmt.Sprintf("1.0.%d.7", i))
		}
	}

	dir, web := t.TempDir(), freeAddr(t)
	rules, err := filepath.Abs("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: httpdns
    static_configs:
      - targets: [%q]
`, rules, demo.Admin)
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startChild(t, "prometheus", filepath.Join(dir, "prometheus.log"), promBin, "--config.file="+confPath,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+web)
	waitHTTP(t, "http://"+web+"/-/ready", filepath.Join(dir, "prometheus.log"))

	deadline := time.Now().Add(ruleTimeout)
	var last string
	for {
		v, err := query(web, "httpdns:cache_hit_ratio:rate5m")
		if err == nil && v > 0 && v <= 1 {
			t.Logf("httpdns:cache_hit_ratio:rate5m = %.3f", v)
			break
		}
		last = fmt.Sprint(v, err)
		if time.Now().After(deadline) {
			t.Fatalf("no hit ratio from prometheus within %v (last: %s)\n%s", ruleTimeout, last,
				readLog(filepath.Join(dir, "prometheus.log")))
		}
		// Keep the counters moving so rate() has two different samples.
		ask("1.0.0.7")
		time.Sleep(500 * time.Millisecond)
	}

	// Every rule evaluated against the real series without an error (a label clash would show here).
	var rr struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := getJSON("http://"+web+"/api/v1/rules", &rr); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rr.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health == "err" {
				t.Errorf("rule %s: %s", r.Name, r.LastError)
			}
		}
	}
	if n < 10 {
		t.Errorf("prometheus loaded %d rules; alerts.yml has more", n)
	}
}

// query returns the value of an instant query that yields one sample.
func query(web, expr string) (float64, error) {
	var res struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON("http://"+web+"/api/v1/query?query="+url.QueryEscape(expr), &res); err != nil {
		return 0, err
	}
	if len(res.Data.Result) != 1 {
		return 0, fmt.Errorf("%d samples", len(res.Data.Result))
	}
	s, _ := res.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

func getJSON(u string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitHTTP waits until u answers 200.
func waitHTTP(t *testing.T, u, logFile string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		res, err := http.Get(u)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %v: %v\n%s", u, startTimeout, err, readLog(logFile))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startChild runs bin with its output in logFile and stops it (SIGTERM, then SIGKILL) when the test ends.
func startChild(t *testing.T, what, logFile, bin string, args ...string) {
	t.Helper()
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", what, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
}

func readLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}
