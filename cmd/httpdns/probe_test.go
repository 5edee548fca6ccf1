package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/cidrdb"
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
