package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/resolver"
	"github.com/prometheus/client_golang/prometheus"
)

// readme returns the project README, so the docs cannot drift from the code.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fenced returns the README's code blocks of one language.
func fenced(doc, lang string) []string {
	re := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```")
	var out []string
	for _, m := range re.FindAllStringSubmatch(doc, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestReadmeConfigParses(t *testing.T) {
	t.Parallel()
	blocks := fenced(readme(t), "yaml")
	if len(blocks) == 0 {
		t.Fatal("README has no yaml block")
	}
	for _, b := range blocks {
		cfg, err := ParseConfig([]byte(b), t.TempDir())
		if err != nil {
			t.Fatalf("README config does not parse: %v\n%s", err, b)
		}
		want, err := LoadConfig(filepath.Join("testdata", "example.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Listen != want.Listen || cfg.Cache != want.Cache || cfg.TTL != want.TTL || cfg.Timeouts != want.Timeouts {
			t.Errorf("README config differs from testdata/example.yaml")
		}
	}
}

func TestReadmeWhitelistParses(t *testing.T) {
	t.Parallel()
	blocks := fenced(readme(t), "text")
	if len(blocks) == 0 {
		t.Fatal("README has no whitelist (text) block")
	}
	for _, b := range blocks {
		p, err := resolver.ParsePolicy([]byte(b), cache.TierCityISP)
		if err != nil {
			t.Fatalf("README whitelist does not parse: %v", err)
		}
		if p.Len() == 0 {
			t.Error("README whitelist has no rules")
		}
	}
}

// recorder is a Registerer that remembers the metric names of everything registered.
type recorder struct {
	prometheus.Registerer
	names []string
}

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	re := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := re.FindStringSubmatch(d.String()); m != nil {
			r.names = append(r.names, m[1])
		}
	}
	return r.Registerer.Register(c)
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func TestReadmeListsEveryMetric(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	path := writeTestConfig(t, w, t.TempDir(), addrsOf(servers), "")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	rec := &recorder{Registerer: reg}
	svc, err := newService(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), rec, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.close()
	doc := readme(t)
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(httpdns_[a-z0-9_]+)`").FindAllStringSubmatch(doc, -1) {
		listed[m[1]] = true
	}
	slices.Sort(rec.names)
	for _, n := range slices.Compact(rec.names) {
		if !listed[n] {
			t.Errorf("metric %s is not in the README's metrics table", n)
		}
		delete(listed, n)
	}
	for n := range listed {
		t.Errorf("README lists %s, which the service does not export", n)
	}
	if len(rec.names) == 0 {
		t.Error("no metrics registered")
	}
}
