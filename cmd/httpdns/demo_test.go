package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/internal/cdnsim"
)

// demoFiles are the files demo writes into its directory.
var demoFiles = []string{"httpdns.yaml", cdnsim.CityDBName, cdnsim.ISPDBName, "domains.txt", "cidrdb.mmdb", "probe-domains.txt"}

// runningDemo is `httpdns demo` running in-process on loopback ports chosen by the system.
type runningDemo struct {
	stdout *lockedBuffer
	admin  string // base URL
	done   chan error
}

// startDemo runs demo with args (plus loopback listeners and one DNS node) until the test ends,
// and waits until it prints that it serves.
func startDemo(t *testing.T, args ...string) *runningDemo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &runningDemo{stdout: &lockedBuffer{}, done: make(chan error, 1)}
	args = append([]string{"-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0", "-nodes", "1"}, args...)
	go func() { d.done <- runDemo(ctx, args, d.stdout, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-d.done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	serving := regexp.MustCompile(`serving on \S+ \(admin (\S+)\)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := serving.FindStringSubmatch(d.stdout.String()); m != nil {
			d.admin = m[1]
			return d
		}
		select {
		case err := <-d.done:
			d.done <- err // for the cleanup
			t.Fatalf("demo stopped: %v\n%s", err, d.stdout)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not serve within 20 s:\n%s", d.stdout)
		}
	}
}

// The README's walkthrough starts demo in the background and goes on once /readyz answers: by
// then every file must be in place.
func TestDemoFilesAreWrittenWhenReady(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDemo(t, "-dir", dir)
	resp, err := http.Get(d.admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz = %d, want 200", resp.StatusCode)
	}
	for _, name := range demoFiles {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written when the demo is ready: %v", name, err)
		}
	}
}

// A demo directory used before holds what the operator made of it: a learnt CIDRDB and a changed
// whitelist. demo used to overwrite both silently.
func TestDemoKeepsLearntCIDRDBAndWhitelist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// A first run's directory, then what probe and an upload leave in it.
	if _, _, err := writeDemoFiles(w, dir, "127.0.0.1:0", "127.0.0.1:0", []string{"127.0.0.1:1"}, false); err != nil {
		t.Fatal(err)
	}
	learnt := []cidrdb.Record{{Network: netip.MustParsePrefix("20.0.0.0/20"), BlockID: 7, Country: "CN", City: "Learnt", ISP: "Probe", ASN: 1}}
	if err := cidrdb.WriteFile(filepath.Join(dir, "cidrdb.mmdb"), learnt); err != nil {
		t.Fatal(err)
	}
	const rules = "# uploaded\n*.cdn-a.test subnet active\n*.portal.test global\n"
	if err := os.WriteFile(filepath.Join(dir, "domains.txt"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	oldCIDRDB := read(t, filepath.Join(dir, "cidrdb.mmdb"))

	d := startDemo(t, "-dir", dir)
	if got := read(t, filepath.Join(dir, "cidrdb.mmdb")); !bytes.Equal(got, oldCIDRDB) {
		t.Error("demo overwrote the learnt cidrdb.mmdb")
	}
	if got := string(read(t, filepath.Join(dir, "domains.txt"))); got != rules {
		t.Errorf("demo overwrote the whitelist: %q", got)
	}
	for _, name := range []string{"cidrdb.mmdb", "domains.txt"} {
		if want := "kept " + filepath.Join(dir, name); !strings.Contains(d.stdout.String(), want) {
			t.Errorf("demo did not say it %s:\n%s", want, d.stdout)
		}
	}
	// The kept library is the one serving: one block.
	resp, err := http.Get(d.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`(?m)^httpdns_cidrdb_blocks 1$`).Match(metrics) {
		t.Errorf("the demo does not serve the kept CIDRDB of one block:\n%s", regexp.MustCompile(`(?m)^httpdns_cidrdb_blocks .*$`).Find(metrics))
	}

	// -force starts afresh.
	if _, kept, err := writeDemoFiles(w, dir, "127.0.0.1:0", "127.0.0.1:0", []string{"127.0.0.1:1"}, true); err != nil || len(kept) != 0 {
		t.Fatalf("writeDemoFiles(force) kept %v, %v", kept, err)
	}
	if bytes.Equal(read(t, filepath.Join(dir, "cidrdb.mmdb")), oldCIDRDB) || string(read(t, filepath.Join(dir, "domains.txt"))) == rules {
		t.Error("-force kept the old CIDRDB or whitelist")
	}
}

func TestDemoRefusesAForeignConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const real = "listen: :8080\nupstreams: [10.0.0.53:53]\ngeoip: {city: GeoIP2-City.mmdb, isp: GeoIP2-ISP.mmdb}\n"
	path := filepath.Join(dir, "httpdns.yaml")
	if err := os.WriteFile(path, []byte(real), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"demo", "-dir", dir, "-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0", "-nodes", "1"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "-force") || !strings.Contains(err.Error(), path) {
		t.Errorf("demo on a deployment's directory = %v, want a refusal naming %s and -force", err, path)
	}
	if got := string(read(t, path)); got != real {
		t.Errorf("demo changed a config it did not write: %q", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("demo wrote into a directory it refused: %v", entries)
	}
	if err := checkDemoDir(dir, true); err != nil {
		t.Errorf("checkDemoDir(force) = %v, want nil", err)
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
