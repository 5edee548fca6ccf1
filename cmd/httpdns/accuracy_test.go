package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/prober"
	"github.com/httpdns/httpdns/resolver"
)

func TestParseConfigAccuracy(t *testing.T) {
	t.Parallel()
	def, err := ParseConfig([]byte(baseYAML), testDir)
	if err != nil {
		t.Fatal(err)
	}
	if def.Accuracy != (AccuracyConfig{Sample: 1000, MaxPerSecond: 20, LogSize: 256}) {
		t.Errorf("defaults %+v", def.Accuracy)
	}
	off, err := ParseConfig([]byte(baseYAML+"accuracy: {sample: 0, max_per_second: 0.5, log_size: 1}"), testDir)
	if err != nil {
		t.Fatal(err)
	}
	if off.Accuracy != (AccuracyConfig{Sample: 0, MaxPerSecond: 0.5, LogSize: 1}) {
		t.Errorf("parsed %+v", off.Accuracy)
	}
	for _, tt := range []struct{ yaml, key, text string }{
		{"accuracy: {sample: -1}", "accuracy.sample", "must not be negative"},
		{"accuracy: {max_per_second: 0}", "accuracy.max_per_second", "must be a positive number"},
		{"accuracy: {max_per_second: .nan}", "accuracy.max_per_second", "must be a positive number"},
		{"accuracy: {log_size: 0}", "accuracy.log_size", "is not in 1..100000"},
		{"accuracy: {log_size: 100001}", "accuracy.log_size", "is not in 1..100000"},
		{"accuracy: {samples: 10}", "accuracy.samples", "unknown key"},
	} {
		_, err := ParseConfig([]byte(baseYAML+tt.yaml), testDir)
		if fe := findFieldError(err, tt.key); fe == nil || !strings.Contains(fe.Error(), tt.text) {
			t.Errorf("%s: error %v, want %q about %s", tt.yaml, err, tt.text, tt.key)
		}
	}
}

// TestSplitLogMarksChecks: a split signal from an accuracy check is written with round "check" and
// read back by the prober as a split observation.
func TestSplitLogMarksChecks(t *testing.T) {
	t.Parallel()
	sig := resolver.SplitSignal{Name: "img.cdn-c.test", Qtype: 1, Block: netip.MustParsePrefix("20.1.0.0/20"),
		Source: netip.MustParsePrefix("20.1.2.0/24"), Scope: netip.MustParsePrefix("20.1.2.0/24"),
		Answer: []netip.Addr{netip.MustParseAddr("63.0.0.1")}, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, check := range []bool{false, true} {
		sig.Check = check
		line, err := json.Marshal(observationOf(sig))
		if err != nil {
			t.Fatal(err)
		}
		o, err := prober.ParseObservation(line)
		if err != nil {
			t.Fatalf("check %v: the prober refuses %s: %v", check, line, err)
		}
		want := prober.SourceSplit
		if check {
			want = "check"
		}
		if o.Source != prober.SourceSplit || o.Round != want || o.Subnet != sig.Source || o.Scope != 24 {
			t.Errorf("check %v: %+v", check, o)
		}
	}
}

// TestServeAccuracyChecks runs serve on the simulated world with a check of every answer and reads
// them back from GET /admin/accuracy and /metrics.
func TestServeAccuracyChecks(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	path := writeTestConfig(t, w, t.TempDir(), addrsOf(servers), "accuracy: {sample: 1, max_per_second: 1000}\n")
	s := startService(t, w, path)
	var name string
	for _, d := range w.Domains() {
		if d.Kind == cdnsim.KindHonest {
			name = d.Name
			break
		}
	}
	const n = 40
	for i := range n {
		c := w.ClientIn(w.Subnets()[i*7], 5)
		if code, body := get(t, fmt.Sprintf("%s/d?host=%s&ip=%s", s.public, name, c)); code != http.StatusOK {
			t.Fatalf("/d: %d %v", code, body)
		}
	}
	if code, _ := get(t, s.admin+"/admin/accuracy"); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", code)
	}
	var rep struct {
		Enabled    bool                         `json:"enabled"`
		Checks     map[string]map[string]uint64 `json:"checks"`
		Skipped    map[string]uint64            `json:"skipped"`
		Mismatches []struct {
			Tier   string `json:"tier"`
			Client string `json:"client"`
		} `json:"mismatches"`
	}
	var checked, skipped uint64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		code, body := do(t, http.MethodGet, s.admin+"/admin/accuracy", "secret", "")
		if code != http.StatusOK {
			t.Fatalf("GET /admin/accuracy: %d %v", code, body)
		}
		b, _ := json.Marshal(body)
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		checked, skipped = 0, 0
		for _, byResult := range rep.Checks {
			for _, c := range byResult {
				checked += c
			}
		}
		for _, c := range rep.Skipped {
			skipped += c
		}
		if checked+skipped == n {
			break
		}
	}
	if !rep.Enabled || checked+skipped != n || checked == 0 {
		t.Fatalf("%d checked and %d skipped of %d answers: %+v", checked, skipped, n, rep)
	}
	if got := rep.Checks["cityisp"]; got["match"]+got["mismatch"]+got["unknown"] != checked {
		t.Errorf("checks %v: the default tier is city+ISP", rep.Checks)
	}
	if uint64(len(rep.Mismatches)) != rep.Checks["cityisp"]["mismatch"] {
		t.Errorf("%d mismatches logged, %d counted", len(rep.Mismatches), rep.Checks["cityisp"]["mismatch"])
	}
	resp, err := http.Get(s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, series := range []string{
		fmt.Sprintf(`httpdns_accuracy_checks_total{result="match",tier="cityisp"} %d`, rep.Checks["cityisp"]["match"]),
		`httpdns_accuracy_checks_total{result="mismatch",tier="subnet"} 0`,
		`httpdns_accuracy_checks_skipped_total{reason="no_ecs"} 0`,
	} {
		if !strings.Contains(string(metrics), series+"\n") {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}
