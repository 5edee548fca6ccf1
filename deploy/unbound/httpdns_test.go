package unbound

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// httpdns is a running "httpdns serve" child process.
type httpdns struct {
	public string // base URL of the public API
	admin  string // base URL of the admin API
	client *http.Client
}

// servingLine is the log line serve writes once both listeners are open.
var servingLine = regexp.MustCompile(`msg=serving .*?listen=(\S+) admin_listen=(\S+)`)

// startHTTPDNS writes the world's geo databases, a whitelist (CDN names and the CNAME to one in the
// subnet tier, the portal names global) and a config asking upstream, then runs "bin serve" on free ports.
func startHTTPDNS(t *testing.T, bin string, w *cdnsim.World, upstream string) *httpdns {
	t.Helper()
	dir := t.TempDir()
	if _, _, err := w.WriteGeoDBs(dir); err != nil {
		t.Fatal(err)
	}
	var wl strings.Builder
	for _, c := range w.CDNs() {
		fmt.Fprintf(&wl, "*.%s.%s subnet\n", c.Name, cdnsim.Zone)
	}
	wl.WriteString("www.shop.test subnet\n*.portal.test global\n")
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
admin_listen: "127.0.0.1:0"
upstreams: [%q]
geoip:
  city: %s
  isp: %s
domains: domains.txt
default_tier: cityisp
cidrdb_watch: 0s
log_level: info
`, upstream, cdnsim.CityDBName, cdnsim.ISPDBName)
	for name, data := range map[string]string{"domains.txt": wl.String(), "httpdns.yaml": cfg} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logFile := filepath.Join(dir, "httpdns.log")
	exited := startChild(t, "httpdns", logFile, bin, "serve", "-config", filepath.Join(dir, "httpdns.yaml"))
	deadline := time.Now().Add(startTimeout)
	for {
		if m := servingLine.FindStringSubmatch(readLog(logFile)); m != nil {
			return &httpdns{public: "http://" + m[1], admin: "http://" + m[2], client: &http.Client{Timeout: 5 * time.Second}}
		}
		select {
		case <-exited:
			t.Fatalf("httpdns exited at start; log:\n%s", readLog(logFile))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("httpdns did not serve within %v; log:\n%s", startTimeout, readLog(logFile))
		}
	}
}

// dAnswer is the JSON of GET /d.
type dAnswer struct {
	Host      string   `json:"host"`
	ClientIP  string   `json:"client_ip"`
	IPs       []string `json:"ips"`
	TTL       int      `json:"ttl"`
	OriginTTL int      `json:"origin_ttl"`
	Scope     string   `json:"scope"`
}

// d asks GET /d?host=host&ip=client (A records) and fails the test on anything but 200.
func (h *httpdns) d(t *testing.T, host string, client netip.Addr) dAnswer {
	t.Helper()
	u := h.public + "/d?" + url.Values{"host": {host}, "ip": {client.String()}}.Encode()
	body := h.get(t, u)
	var a dAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("GET %s: %v in %s", u, err, body)
	}
	return a
}

// cacheCount returns httpdns_cache_requests_total for tier and result from /metrics (0 when absent).
func (h *httpdns) cacheCount(t *testing.T, tier, result string) float64 {
	t.Helper()
	series := fmt.Sprintf(`httpdns_cache_requests_total{result=%q,tier=%q} `, result, tier)
	sc := bufio.NewScanner(strings.NewReader(string(h.get(t, h.admin+"/metrics"))))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", sc.Text(), err)
			}
			return f
		}
	}
	return 0
}

// get fetches u and returns the body of a 200 answer.
func (h *httpdns) get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := h.client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("GET %s: reading: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", u, resp.Status, body)
	}
	return body
}
