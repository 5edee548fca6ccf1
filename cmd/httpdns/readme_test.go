package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/resolver"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
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

// recorder is a Registerer that remembers the metric names, and each one's labels, of everything
// registered.
type recorder struct {
	prometheus.Registerer
	names  []string
	labels map[string]string // name -> its label names, constant and variable, sorted, comma-separated
}

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	re := regexp.MustCompile(`fqName: "([^"]+)".*constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}`)
	constName := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)=`)
	for d := range ch {
		m := re.FindStringSubmatch(d.String())
		if m == nil {
			continue
		}
		r.names = append(r.names, m[1])
		var ls []string
		for _, c := range constName.FindAllStringSubmatch(m[2], -1) {
			ls = append(ls, c[1])
		}
		if m[3] != "" {
			ls = append(ls, strings.Split(m[3], ",")...)
		}
		slices.Sort(ls)
		if r.labels == nil {
			r.labels = map[string]string{}
		}
		r.labels[m[1]] = strings.Join(slices.Compact(ls), ",")
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
	// The Metrics table's rows: | `name` | type | `label`, `label` | meaning |
	listed := map[string]string{}
	row := regexp.MustCompile("(?m)^\\| `(httpdns_[a-z0-9_]+)` \\| [a-z]+ \\|([^|]*)\\|")
	label := regexp.MustCompile("`([a-z_]+)`")
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		var ls []string
		for _, l := range label.FindAllStringSubmatch(m[2], -1) {
			ls = append(ls, l[1])
		}
		slices.Sort(ls)
		listed[m[1]] = strings.Join(ls, ",")
	}
	slices.Sort(rec.names)
	for _, n := range slices.Compact(rec.names) {
		ls, ok := listed[n]
		switch {
		case !ok:
			t.Errorf("metric %s is not in the README's metrics table", n)
		case ls != rec.labels[n]:
			t.Errorf("README's metrics table gives %s the labels {%s}; it has {%s}", n, ls, rec.labels[n])
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

// The Configuration section's block shows every key the config has, so an operator reading it sees
// them all (TestDeployExampleConfig holds deploy/httpdns.yaml to the same).
func TestReadmeConfigShowsEveryKey(t *testing.T) {
	t.Parallel()
	doc := readme(t)
	_, section, ok := strings.Cut(doc, "\n## Configuration\n")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	blocks := fenced(section, "yaml")
	if len(blocks) == 0 {
		t.Fatal("README's Configuration section has no yaml block")
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(blocks[0]), &m); err != nil {
		t.Fatal(err)
	}
	have := yamlKeys(m, "")
	for _, k := range configKeys(reflect.TypeFor[Config](), "") {
		if !slices.Contains(have, k) {
			t.Errorf("README's configuration block lacks the key %s", k)
		}
	}
}

// The README's row for httpdns_http_requests_total names every endpoint label the api and the
// console count requests under (their `endpoint = "..."` constants).
func TestReadmeListsEveryEndpointLabel(t *testing.T) {
	t.Parallel()
	row := regexp.MustCompile("(?m)^\\| `httpdns_http_requests_total` \\|.*$").FindString(readme(t))
	if row == "" {
		t.Fatal("README's metrics table has no httpdns_http_requests_total row")
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "api", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	constant := regexp.MustCompile(`\bendpoint = "([a-z0-9_]+)"`)
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range constant.FindAllStringSubmatch(string(b), -1) {
			n++
			if !strings.Contains(row, "`"+m[1]+"`") {
				t.Errorf("endpoint label %s (%s) is not in the README's httpdns_http_requests_total row", m[1], filepath.Base(f))
			}
		}
	}
	if n < 10 {
		t.Errorf("found %d endpoint labels in api/*.go; the pattern no longer matches the code", n)
	}
}
