package prober_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/prober"
)

// ranges renders a library as its address ranges per block, so libraries
// that cover the same addresses alike compare equal however the writer
// cut their networks.
func ranges(recs []cidrdb.Record) string {
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b cidrdb.Record) int { return a.Network.Addr().Compare(b.Network.Addr()) })
	var parts []string
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && recs[j].BlockID == recs[i].BlockID && last(recs[j-1].Network).Next() == recs[j].Network.Addr() {
			j++
		}
		r := recs[i]
		parts = append(parts, fmt.Sprintf("%s-%s=%d/%s/%s/%s", r.Network.Addr(), last(recs[j-1].Network), r.BlockID,
			r.Country, r.City, r.ISP))
		i = j
	}
	return strings.Join(parts, " ")
}

func readLibrary(t *testing.T, path string) []cidrdb.Record {
	t.Helper()
	recs, err := cidrdb.ReadFile(path)
	if err != nil {
		t.Fatalf("reading learnt library: %v", err)
	}
	return recs
}

func TestRunRoundTrip(t *testing.T) {
	t.Parallel()
	tw := newTestWorld(t, 512)
	dir := t.TempDir()
	cfg := prober.RunConfig{
		Probe:      fastProbe([]string{tw.srv.Addr()}, tw.names...),
		Start:      tw.start(),
		OutPath:    dir + "/learnt.mmdb",
		ReportPath: dir + "/report.json",
		Locator:    tw.loc,
	}
	rep, err := prober.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	b, err := os.ReadFile(cfg.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	var fromFile prober.Report
	if err := json.Unmarshal(b, &fromFile); err != nil || !reflect.DeepEqual(fromFile, rep) {
		t.Errorf("JSON report %+v (%v) differs from the returned one %+v", fromFile, err, rep)
	}
	if rep.Probe == nil || rep.Probe.Answered == 0 || rep.BlocksAfter >= rep.BlocksBefore {
		t.Fatalf("report %+v: want probes answered and fewer blocks", rep)
	}
	// The file holds what learning from the observations file gives.
	obs, _ := readAll(t, dir+"/observations.jsonl")
	res, err := prober.Learn(prober.LearnInput{Blocks: tw.start(), Observations: obs, Domains: tw.names, Locator: tw.loc})
	if err != nil {
		t.Fatal(err)
	}
	learnt := readLibrary(t, cfg.OutPath)
	if got, want := ranges(learnt), ranges(res.Records); got != want {
		t.Errorf("library read back differs from the learnt one:\n%s\n%s", got, want)
	}
	if rep.BlocksAfter != tw.openLearnt(t, cfg.OutPath).Blocks() {
		t.Errorf("report says %d blocks, the file has %d", rep.BlocksAfter, tw.openLearnt(t, cfg.OutPath).Blocks())
	}

	// A day later, relearn the library with hysteresis: a second round that
	// sees the same world confirms every block.
	next := cfg
	next.Start, next.InPath, next.OutPath, next.ReportPath = nil, cfg.OutPath, dir+"/next.mmdb", ""
	next.ObservationsPath, next.Hysteresis = dir+"/observations.jsonl", true
	next.Probe.Now = func() time.Time { return time.Now().Add(24 * time.Hour) }
	rep2, err := prober.Run(context.Background(), next)
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if len(rep2.Rounds) != 2 || rep2.Unchanged != rep2.BlocksAfter || rep2.BlocksAfter != rep.BlocksAfter {
		t.Errorf("second round report %+v: want two rounds and every block unchanged", rep2)
	}
	if got, want := ranges(readLibrary(t, next.OutPath)), ranges(learnt); got != want {
		t.Errorf("a confirming round changed the library:\n%s\n%s", got, want)
	}
}

// probeLines returns the (subnet, domain, qtype) of every probe observation
// and whether one appears twice.
func duplicateProbes(obs []prober.Observation) []string {
	seen := map[string]bool{}
	var dups []string
	for _, o := range obs {
		k := fmt.Sprintf("%s %s %d", o.Subnet, o.Domain, o.Qtype)
		if seen[k] {
			dups = append(dups, k)
		}
		seen[k] = true
	}
	return dups
}

func TestRunResumesAfterInterruption(t *testing.T) {
	t.Parallel()
	tw := newTestWorld(t, 512)
	dir := t.TempDir()
	base := prober.RunConfig{Probe: fastProbe([]string{tw.srv.Addr()}, tw.names...), Start: tw.start(), Locator: tw.loc}

	whole := base
	whole.OutPath = dir + "/whole.mmdb"
	if _, err := prober.Run(context.Background(), whole); err != nil {
		t.Fatalf("uninterrupted Run: %v", err)
	}

	// Interrupt a run after 300 observations, as a signal would.
	obsPath := dir + "/resumed.jsonl"
	w, err := prober.OpenWriter(obsPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &writerSink{w: w, memSink: memSink{cancelAfter: 300, cancel: cancel}}
	if _, err := prober.Probe(ctx, base.Probe, prober.Units(base.Start), nil, sink); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Probe = %v, want context.Canceled", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// And tear its last line, as a kill in mid-write would.
	before, _ := readAll(t, obsPath)
	b, _ := os.ReadFile(obsPath)
	if err := os.WriteFile(obsPath, b[:len(b)-10], 0o644); err != nil {
		t.Fatal(err)
	}

	resumed := base
	resumed.OutPath, resumed.ObservationsPath = dir+"/resumed.mmdb", obsPath
	rep, err := prober.Run(context.Background(), resumed)
	if err != nil {
		t.Fatalf("resumed Run: %v", err)
	}
	if rep.MalformedLines != 1 || rep.Probe.Skipped < 300 {
		t.Errorf("resumed report: %d malformed lines, %d skipped; want the torn line and the work done skipped",
			rep.MalformedLines, rep.Probe.Skipped)
	}
	obs, bad := readAll(t, obsPath)
	if kept := len(before) - 1; kept < 299 || len(obs) != kept+rep.Probe.Answered {
		t.Errorf("%d observations kept from the interrupted run, %d made after, %d in the file", kept, rep.Probe.Answered, len(obs))
	}
	if dups := duplicateProbes(obs); len(dups) > 0 || len(bad) != 1 {
		t.Errorf("probed twice: %v (bad lines %v)", dups, bad)
	}
	if rounds := roundsOf(obs); len(rounds) != 1 {
		t.Errorf("the resumed run started a new round: %v", rounds)
	}
	if got, want := ranges(readLibrary(t, resumed.OutPath)), ranges(readLibrary(t, whole.OutPath)); got != want {
		t.Errorf("resumed library differs from the uninterrupted one:\n%s\n%s", got, want)
	}
}

// writerSink writes to a Writer and counts like memSink.
type writerSink struct {
	w *prober.Writer
	memSink
}

func (s *writerSink) Write(o prober.Observation) error {
	if err := s.w.Write(o); err != nil {
		return err
	}
	return s.memSink.Write(o)
}

func roundsOf(obs []prober.Observation) []string {
	var out []string
	for _, o := range obs {
		if !slices.Contains(out, o.Round) {
			out = append(out, o.Round)
		}
	}
	return out
}

func TestRunSkipsMalformedLines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lines := []string{
		mustJSON(t, obs(1, "10.0.0.0/24", "a.test", 24, "1.1.1.1")),
		"{not json",
		mustJSON(t, obs(1, "10.0.1.0/24", "a.test", 24, "1.1.1.1")),
		`{"subnet":"10.0.2.0/24","domain":"a.test"}`,
		mustJSON(t, obs(1, "10.0.2.0/24", "a.test", 24, "1.1.1.1")),
		mustJSON(t, obs(1, "10.0.3.0/24", "a.test", 24, "1.1.1.1")),
	}
	if err := os.WriteFile(dir+"/obs.jsonl", []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg := prober.RunConfig{
		Probe:            prober.ProbeConfig{Domains: []string{"a.test"}, Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		Start:            slash24s(0, 3),
		OutPath:          dir + "/out.mmdb",
		ObservationsPath: dir + "/obs.jsonl",
		NoProbe:          true,
	}
	rep, err := prober.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.MalformedLines != 2 || rep.ObservationsUsed != 4 || rep.Probe != nil {
		t.Errorf("report %+v: want 2 malformed lines, 4 observations used, no probing", rep)
	}
	for _, want := range []string{"line=2", "line=4"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if got := ranges(readLibrary(t, cfg.OutPath)); got != "10.0.0.0-10.0.3.255=5/CN/Beijing/A" {
		t.Errorf("learnt %s, want one block", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunUnreachableUpstream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := time.Now()
	_, err := prober.Run(context.Background(), prober.RunConfig{
		Probe:   prober.ProbeConfig{Upstreams: []string{closedPort(t)}, Domains: []string{"a.test"}},
		Start:   slash24s(0, 200),
		OutPath: dir + "/out.mmdb",
	})
	if !errors.Is(err, prober.ErrNoUpstream) {
		t.Fatalf("Run error = %v, want ErrNoUpstream", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to give up", d)
	}
	if _, err := os.Stat(dir + "/out.mmdb"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed run wrote a library (stat: %v)", err)
	}
}

func TestRunConfigErrors(t *testing.T) {
	t.Parallel()
	_, err := prober.Run(context.Background(), prober.RunConfig{})
	for _, want := range []error{prober.ErrNoOutput, prober.ErrNoBlocks, prober.ErrConfig} {
		if !errors.Is(err, want) {
			t.Errorf("Run of an empty config: %v, want %v among the errors", err, want)
		}
	}
	_, err = prober.Run(context.Background(), prober.RunConfig{InPath: "/nonexistent.mmdb", OutPath: "x",
		Probe: prober.ProbeConfig{Domains: []string{"a.test"}}, NoProbe: true})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent.mmdb") {
		t.Errorf("missing -in file: %v, want an error naming it", err)
	}
}
