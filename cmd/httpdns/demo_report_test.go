package main

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"testing"
)

// The probe command demo prints writes its report where the console's CIDRDB tab reads it, so an
// operator who follows the demo sees the last probe report there. Before, the printed command wrote
// none and the tab said "no probe report".
func TestDemoProbeHintFeedsTheConsole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDemo(t, "-dir", dir)
	m := regexp.MustCompile(`go run ./cmd/httpdns probe .* -report (\S+)\n`).FindStringSubmatch(d.stdout.String())
	if m == nil {
		t.Fatalf("demo prints no probe command with -report:\n%s", d.stdout)
	}
	// What probe -report writes is JSON; the console passes it through.
	if err := os.WriteFile(m[1], []byte(`{"blocks":{"before":4095,"after":228}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, d.admin+"/console/api/cidrdb", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+demoAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		ProbeReport json.RawMessage `json:"probe_report"`
		Path        string          `json:"probe_report_path"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("GET /console/api/cidrdb: %d %v", resp.StatusCode, err)
	}
	if got.Path != m[1] || string(got.ProbeReport) != `{"blocks":{"before":4095,"after":228}}` {
		t.Errorf("the console reads the probe report %q (%s); demo's probe command writes %s", got.Path, got.ProbeReport, m[1])
	}
}
