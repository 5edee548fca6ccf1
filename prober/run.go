package prober

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
)

// DefaultResumeWindow is how recent the latest round's last observation
// must be for a run to resume that round instead of starting a new one.
const DefaultResumeWindow = 12 * time.Hour

// RunConfig is one `httpdns probe` run: plain values, so the command owns
// its flags and file formats.
type RunConfig struct {
	// Probe says where and how fast to probe. Its Round is chosen by Run
	// unless set.
	Probe ProbeConfig
	// InPath is the CIDRDB to relearn; when empty, Start is the starting
	// library.
	InPath string
	// Start is the starting library when InPath is empty, e.g. the geo
	// databases' /24s (SubnetRecords).
	Start []cidrdb.Record
	// OutPath is where the new CIDRDB is written, atomically; required.
	OutPath string
	// ObservationsPath is the observations file (JSONL): read first (to
	// resume, and as passive input), then appended to. Keep it from run to
	// run: hysteresis needs the previous round. Default:
	// "observations.jsonl" in OutPath's directory.
	ObservationsPath string
	// SignalPaths are more observation files read as passive input and never written, e.g. the
	// server's split log and its rotated predecessor (split_log, split_log.1). Missing files are
	// skipped.
	SignalPaths []string
	// Demand are prefixes clients asked from (IPv6: their /56s): inside an
	// IPv6 network wider than /52 only these and a sample are probed
	// (UnitsFor).
	Demand []netip.Prefix
	// DemandPaths are demand logs (JSONL, Demand) read for more of them,
	// e.g. the server's demand_log and its rotated predecessor. Missing
	// files are skipped.
	DemandPaths []string
	// Sample6 is how many /56s of every IPv6 network wider than /52 are
	// probed besides the demand ones. Default DefaultSample6; negative
	// means none.
	Sample6 int
	// ReportPath, when set, receives the report as JSON.
	ReportPath string
	// Locator places the units; nil uses the starting records' places.
	Locator Locator
	// Hysteresis changes blocks only where two probe rounds agree; set it
	// when the starting library is a learnt one.
	Hysteresis bool
	// Contiguous keeps every learnt block one run of adjacent addresses
	// (LearnInput.Contiguous).
	Contiguous bool
	// NoProbe learns from the observations file alone.
	NoProbe bool
	// NewRound starts a new round even when the latest one is recent
	// enough to resume.
	NewRound bool
	// ResumeWindow: see DefaultResumeWindow (the default).
	ResumeWindow time.Duration
}

// ErrNoOutput reports a run without an output path.
var ErrNoOutput = errors.New("no output path")

// Run reads the starting library and the observations file, probes what
// the current round still lacks (appending every answer to the file),
// learns the new library, writes it to OutPath and returns the report.
// Malformed observation lines are logged with their line numbers,
// counted and skipped. When probing fails (ErrNoUpstream, ctx ending) no
// library is written, but the observations made so far are kept, so the
// next run resumes.
func Run(ctx context.Context, cfg RunConfig) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	start, err := startingBlocks(cfg)
	if err != nil {
		return Report{}, err
	}
	var obs []Observation
	var bad []*LineError
	for _, path := range append([]string{cfg.ObservationsPath}, cfg.SignalPaths...) {
		o, b, err := loadObservations(path)
		if err != nil {
			return Report{}, err
		}
		for _, e := range b {
			cfg.Probe.Logger.Warn("skipping malformed observation", "file", path, "line", e.Line, "err", e.Err)
		}
		obs, bad = append(obs, o...), append(bad, b...)
	}
	demand, badDemand, err := LoadDemand(cfg.DemandPaths...)
	if err != nil {
		return Report{}, err
	}
	for path, b := range badDemand {
		for _, e := range b {
			cfg.Probe.Logger.Warn("skipping malformed demand line", "file", path, "line", e.Line, "err", e.Err)
		}
		bad = append(bad, b...)
	}
	units, sample := UnitsFor(start, append(demand, cfg.Demand...), cfg.Sample6)
	var stats *Stats
	if !cfg.NoProbe {
		st, made, err := probeRound(ctx, cfg, units, sample, obs)
		obs = append(obs, made...)
		if err != nil {
			return Report{Probe: &st, MalformedLines: len(bad)}, fmt.Errorf("probing: %w", err)
		}
		stats = &st
	}
	res, err := Learn(LearnInput{Blocks: start, Observations: obs, Domains: cfg.Probe.Domains,
		Qtypes: cfg.Probe.Qtypes, Locator: cfg.Locator, Hysteresis: cfg.Hysteresis, Contiguous: cfg.Contiguous,
		Planned: append(units, sample...)})
	if err != nil {
		return Report{}, fmt.Errorf("learning: %w", err)
	}
	rep := res.Report
	rep.MalformedLines, rep.Probe = len(bad), stats
	if err := cidrdb.WriteFile(cfg.OutPath, res.Records); err != nil {
		return rep, err
	}
	return rep, writeReport(cfg.ReportPath, rep)
}

// withDefaults validates cfg, reporting every problem together, and fills
// its defaults.
func (cfg RunConfig) withDefaults() (RunConfig, error) {
	var errs []error
	if cfg.OutPath == "" {
		errs = append(errs, ErrNoOutput)
	}
	if cfg.InPath == "" && len(cfg.Start) == 0 {
		errs = append(errs, ErrNoBlocks)
	}
	probe, err := cfg.Probe.withDefaults()
	if cfg.NoProbe { // no upstreams needed, only the questions
		var domains []string
		domains, err = canonicalDomains(cfg.Probe.Domains)
		probe = cfg.Probe.fill()
		probe.Domains = domains
	}
	if err := errors.Join(append(errs, err)...); err != nil {
		return cfg, err
	}
	probe.Round = cfg.Probe.Round // Run chooses the round when none is given
	cfg.Probe = probe
	if cfg.ObservationsPath == "" {
		cfg.ObservationsPath = filepath.Join(filepath.Dir(cfg.OutPath), "observations.jsonl")
	}
	cfg.ResumeWindow = cmpOr(cfg.ResumeWindow, DefaultResumeWindow)
	switch {
	case cfg.Sample6 == 0:
		cfg.Sample6 = DefaultSample6
	case cfg.Sample6 < 0:
		cfg.Sample6 = 0
	}
	return cfg, nil
}

// startingBlocks reads InPath, or returns Start.
func startingBlocks(cfg RunConfig) ([]cidrdb.Record, error) {
	if cfg.InPath == "" {
		return cfg.Start, nil
	}
	return cidrdb.ReadFile(cfg.InPath)
}

// loadObservations reads the observations file; a missing file is empty.
func loadObservations(path string) ([]Observation, []*LineError, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading observations: %w", err)
	}
	defer f.Close()
	var obs []Observation
	bad, err := ReadObservations(f, func(o Observation) { obs = append(obs, o) })
	if err != nil {
		return nil, nil, fmt.Errorf("reading observations %s: %w", path, err)
	}
	return obs, bad, nil
}

// probeRound probes what the current round lacks, appending to the
// observations file, and returns the observations it made.
func probeRound(ctx context.Context, cfg RunConfig, units, sample []netip.Prefix, prior []Observation) (Stats, []Observation, error) {
	pc := cfg.Probe
	pc.Sample = sample
	if pc.Round == "" || cfg.NewRound {
		pc.Round = chooseRound(prior, pc.Now(), cfg.ResumeWindow, cfg.NewRound)
	}
	w, err := OpenWriter(cfg.ObservationsPath)
	if err != nil {
		return Stats{}, nil, err
	}
	sink := &collector{out: w}
	st, err := Probe(ctx, pc, units, prior, sink)
	return st, sink.obs, errors.Join(err, w.Close())
}

// chooseRound returns the round to probe: the latest one in prior when
// its last observation is within window of now (a run that was stopped),
// else a new one named by now.
func chooseRound(prior []Observation, now time.Time, window time.Duration, fresh bool) string {
	var latest string
	var last time.Time
	for i := range prior {
		o := &prior[i]
		if o.Source == SourceProbe && o.Time.After(last) {
			latest, last = o.Round, o.Time
		}
	}
	if !fresh && latest != "" && now.Sub(last) <= window {
		return latest
	}
	id := now.UTC().Format(time.RFC3339)
	if id == latest { // a new round within the same second
		id = now.UTC().Format(time.RFC3339Nano)
	}
	return id
}

// collector passes observations on and keeps them for learning.
type collector struct {
	out Sink
	mu  sync.Mutex
	obs []Observation
}

func (c *collector) Write(o Observation) error {
	if err := c.out.Write(o); err != nil {
		return err
	}
	c.mu.Lock()
	c.obs = append(c.obs, o)
	c.mu.Unlock()
	return nil
}

// writeReport writes rep as indented JSON to path, when set.
func writeReport(path string, rep Report) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing report %s: %w", path, err)
	}
	return nil
}
