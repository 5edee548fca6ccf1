package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/prober"
)

func TestProbeLearnsFromGeoThenRelearns(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 2)
	dir := t.TempDir()
	cfgPath := writeTestConfig(t, w, dir, addrsOf(servers), "")
	domains := filepath.Join(dir, "probe-domains.txt")
	if err := os.WriteFile(domains, []byte("# probe names\nimg.cdn-a.test\nvideo.cdn-b.test\nnews.cdn-d.test\npay.cdn-e.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "learnt.mmdb")
	var stdout, stderr bytes.Buffer
	args := []string{"probe", "-config", cfgPath, "-domains", domains, "-out", out, "-rate", "-1"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("probe: %v\n%s", err, stderr.String())
	}
	recs, err := cidrdb.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[uint32]bool{}
	for _, r := range recs {
		if r.Network.Addr().Is4() {
			blocks[r.BlockID] = true
		}
	}
	if n := len(w.Subnets()); len(blocks) == 0 || len(blocks) >= n {
		t.Errorf("learnt %d IPv4 blocks from %d /24s: nothing merged", len(blocks), n)
	}
	if !strings.Contains(stdout.String(), "blocks") {
		t.Errorf("report missing from stdout:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "observations.jsonl")); err != nil {
		t.Errorf("no observations file beside -out: %v", err)
	}
	// A second run relearns the learnt library with hysteresis, from the observations alone.
	stdout.Reset()
	args = []string{"probe", "-config", cfgPath, "-domains", domains, "-in", out, "-out", filepath.Join(dir, "again.mmdb"),
		"-observations", filepath.Join(dir, "observations.jsonl"), "-no-probe"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("relearn: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(strings.ToLower(stdout.String()), "hysteresis") {
		t.Errorf("second report does not mention hysteresis:\n%s", stdout.String())
	}
}

func TestProbeBadInput(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	dir := t.TempDir()
	cfgPath := writeTestConfig(t, w, dir, addrsOf(servers), "")
	domains := filepath.Join(dir, "d.txt")
	os.WriteFile(domains, []byte("img.cdn-a.test\n"), 0o644)
	tests := map[string]struct {
		args []string
		want string
	}{
		"missing flags":   {[]string{"probe", "-config", cfgPath}, "required"},
		"missing domains": {[]string{"probe", "-config", cfgPath, "-domains", filepath.Join(dir, "none.txt"), "-out", filepath.Join(dir, "o.mmdb")}, "none.txt"},
		"bad -hysteresis": {[]string{"probe", "-config", cfgPath, "-domains", domains, "-out", filepath.Join(dir, "o.mmdb"), "-hysteresis", "maybe"}, "on, off or auto"},
		"bad -in":         {[]string{"probe", "-config", cfgPath, "-domains", domains, "-in", cfgPath, "-out", filepath.Join(dir, "o.mmdb")}, "httpdns.yaml"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error()+stderr.String(), tt.want) {
				t.Errorf("err = %v, stderr %q; want mention of %q", err, stderr.String(), tt.want)
			}
		})
	}
}

// TestProbeDemandAndBudget: the config's demand log steers IPv6 probing, -max-queries is never
// exceeded and the run still writes a library, and the report gives each family's figures.
func TestProbeDemandAndBudget(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	dir := t.TempDir()
	cfgPath := writeTestConfig(t, w, dir, addrsOf(servers), "")
	domains := filepath.Join(dir, "probe-domains.txt")
	if err := os.WriteFile(domains, []byte("img.cdn-a.test\nvideo.cdn-b.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	for _, s := range w.Subnets6()[:20] {
		fmt.Fprintf(&lines, `{"subnet":%q,"time":"2026-03-01T10:00:00Z","source":"demand"}`+"\n", s)
	}
	if err := os.WriteFile(filepath.Join(dir, "demand.jsonl"), []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "learnt.mmdb")
	before := servers[0].Queries()
	var stdout, stderr bytes.Buffer
	args := []string{"probe", "-config", cfgPath, "-domains", domains, "-out", out, "-rate", "-1", "-max-queries", "3000",
		"-report", filepath.Join(dir, "report.json")}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("probe: %v\n%s", err, stderr.String())
	}
	if sent := servers[0].Queries() - before; sent > 3000 {
		t.Errorf("the upstream got %d queries, over the budget of 3000", sent)
	}
	for _, want := range []string{"budget:", "IPv4:", "IPv6:"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, stdout.String())
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep prober.Report
	if err := json.Unmarshal(b, &rep); err != nil || rep.Probe == nil || rep.Probe.Queries != 3000 || rep.IPv6.Subnets < 20 {
		t.Errorf("report %+v (%v): want 3000 queries and the 20 demand /56s among the IPv6 units", rep, err)
	}
	if _, err := cidrdb.ReadFile(out); err != nil {
		t.Errorf("no usable CIDRDB after the budget ran out: %v", err)
	}
}
