package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// deployDir holds the deployment examples: the example config, the systemd unit, the container file.
var deployDir = filepath.Join("..", "..", "deploy")

// configKeys lists the dotted YAML keys of a config struct type, e.g. "timeouts.read".
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, configKeys(f.Type, prefix+name+".")...)
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}

// yamlKeys lists the dotted keys a YAML mapping holds.
func yamlKeys(m map[string]any, prefix string) []string {
	var keys []string
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			keys = append(keys, yamlKeys(sub, prefix+k+".")...)
			continue
		}
		keys = append(keys, prefix+k)
	}
	return keys
}

// The example config for deployments must load with the real loader, show every key, and keep
// every default it claims to keep.
func TestDeployExampleConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(deployDir, "httpdns.yaml")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("deploy/httpdns.yaml does not load: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(read(t, path), &doc); err != nil {
		t.Fatal(err)
	}
	have := yamlKeys(doc, "")
	for _, k := range configKeys(reflect.TypeFor[Config](), "") {
		if !slices.Contains(have, k) {
			t.Errorf("deploy/httpdns.yaml lacks the key %s: show it with its default and a comment", k)
		}
	}

	// The keys a deployment sets itself; every other one must be the default, as the file says.
	want, err := LoadConfig(filepath.Join("testdata", "example.yaml")) // every default, documented
	if err != nil {
		t.Fatal(err)
	}
	want.Upstreams, want.GeoIP = cfg.Upstreams, cfg.GeoIP
	want.CIDRDB, want.Domains, want.SplitLog, want.DemandLog = cfg.CIDRDB, cfg.Domains, cfg.SplitLog, cfg.DemandLog
	want.AccountsFile = cfg.AccountsFile
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("deploy/httpdns.yaml changes a default it claims to keep:\n got %+v\nwant %+v", cfg, want)
	}
	for _, p := range []string{cfg.GeoIP.City, cfg.GeoIP.ISP, cfg.CIDRDB, cfg.Domains, cfg.SplitLog} {
		if !filepath.IsAbs(p) {
			t.Errorf("deploy/httpdns.yaml path %q is relative; the unit and the container expect absolute ones", p)
		}
	}
	for _, p := range []string{cfg.CIDRDB, cfg.Domains, cfg.SplitLog} {
		if !strings.HasPrefix(p, "/var/lib/httpdns/") {
			t.Errorf("%s is written by the service but is outside its state directory /var/lib/httpdns", p)
		}
	}
}

// unitDirectives reads a systemd unit file into directive -> values.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	d := map[string][]string{}
	for line := range strings.Lines(string(read(t, path))) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not a directive", path, line)
		}
		d[k] = append(d[k], v)
	}
	return d
}

// The systemd unit must run the real command line, reload on SIGHUP (which serve handles) and give
// the service the state directory the example config writes into.
func TestDeploySystemdUnit(t *testing.T) {
	t.Parallel()
	d := unitDirectives(t, filepath.Join(deployDir, "systemd", "httpdns.service"))
	want := map[string]string{
		"ExecReload":     "/bin/kill -HUP $MAINPID",
		"Restart":        "on-failure",
		"StateDirectory": "httpdns",
		"Type":           "exec",
		"User":           "httpdns",
	}
	for k, v := range want {
		if !slices.Contains(d[k], v) {
			t.Errorf("httpdns.service: %s=%v, want %s", k, d[k], v)
		}
	}
	for _, k := range []string{"NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "CapabilityBoundingSet", "SystemCallFilter"} {
		if len(d[k]) == 0 {
			t.Errorf("httpdns.service lacks the hardening option %s", k)
		}
	}
	start := strings.Fields(strings.Join(d["ExecStart"], " "))
	if len(start) < 2 || start[1] != "serve" {
		t.Fatalf("ExecStart=%v, want httpdns serve", d["ExecStart"])
	}
	// The flags must be ones serve accepts: parse them as serve does, with the config swapped for
	// the example so that serve gets as far as loading it (then fails on the absent geo files).
	args := slices.Clone(start[2:])
	i := slices.Index(args, "-config")
	if i < 0 || i+1 >= len(args) || args[i+1] != "/etc/httpdns/httpdns.yaml" {
		t.Fatalf("ExecStart=%v, want -config /etc/httpdns/httpdns.yaml", start)
	}
	// A copy whose City database is certainly missing, so serve stops before it listens.
	missing := filepath.Join(t.TempDir(), "missing-city.mmdb")
	cfg := strings.Replace(string(read(t, filepath.Join(deployDir, "httpdns.yaml"))), "/var/lib/GeoIP/GeoIP2-City.mmdb", missing, 1)
	args[i+1] = filepath.Join(t.TempDir(), "httpdns.yaml")
	if err := os.WriteFile(args[i+1], []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), append([]string{"serve"}, args...), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "opening geoip.city "+missing) {
		t.Errorf("serve %v = %v, want it to load the config and stop at the missing geo database", args, err)
	}
	// The timeouts systemd allows must cover serve's own drain time.
	if !slices.Contains(d["TimeoutStopSec"], "30s") {
		t.Errorf("TimeoutStopSec=%v, want 30s (more than timeouts.shutdown, 10s)", d["TimeoutStopSec"])
	}
}

// The container file builds the real command with the README's build line and runs serve with the
// example config's paths; it cannot be built here (no registry access), so check what it says.
func TestDeployContainerfile(t *testing.T) {
	t.Parallel()
	c := string(read(t, filepath.Join(deployDir, "Containerfile")))
	for _, want := range []string{
		"CGO_ENABLED=0",
		"go build",
		"./cmd/httpdns",
		`"serve", "-config", "/etc/httpdns/httpdns.yaml"`,
		"COPY deploy/httpdns.yaml /etc/httpdns/httpdns.yaml",
		"USER ",
		"EXPOSE 8080",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("Containerfile lacks %q", want)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(c, -1)); n < 2 {
		t.Errorf("Containerfile has %d stages, want a build stage and a runtime stage", n)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(read(t, filepath.Join("..", "..", "go.mod"))))
	if goVersion == nil || !strings.Contains(c, "golang:"+goVersion[1]) {
		t.Errorf("Containerfile's Go image does not match go.mod's go %v", goVersion)
	}
}
