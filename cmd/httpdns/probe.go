package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/prober"
)

const probeUsage = `Usage: httpdns probe -config FILE -domains FILE -out NEW.mmdb [-in OLD.mmdb]
                     [-observations FILE.jsonl] [-signals FILE,...] [-rate QPS] [-concurrency N]
                     [-report FILE.json] [-new-round] [-no-probe] [-hysteresis on|off|auto]
                     [-demand FILE,...] [-sample6 N] [-max-queries N] [-contiguous] [-publish]

Learns the adaptive subnet library (CIDRDB): asks the config's upstreams for every probe domain
(-domains: one name a line, # comments) with ECS for every /24 (IPv6: /56) of the starting
library, appends every answer to the observations file, merges adjacent /24s whose answers agree
(same country and ISP) and splits blocks whose parts disagree, joins runs apart in address space
that answer alike in one country, city and ISP into one block (unless -contiguous), writes
NEW.mmdb and prints a report of what changed.

The starting library is -in, else the config's cidrdb (both relearnt with hysteresis: a block
changes only when two probe rounds agree), else the geo databases cut into /24 blocks (what
"httpdns cidrdb build" writes). -hysteresis=off learns from the latest round alone, e.g. the
first time a fresh /24 library is probed. The observations file is read first: a run that was stopped
resumes where it was, and earlier rounds feed hysteresis. The server's split log (split_log and
split_log.1 from the config, unless -signals says otherwise) is read as passive input.

IPv6 is probed where clients are: an IPv6 network wider than /52 (an ISP's /32 holds 16 million
/56s) is never enumerated; its /56s that the server's demand log recorded (demand_log and
demand_log.1 from the config, unless -demand says otherwise) and -sample6 more spread over it are
probed, and learnt blocks hold only /56s whose answers were seen. -max-queries is a hard budget:
once spent the probe stops cleanly and the library is learnt from what was answered. The report
gives queries, time and blocks per address family.

-publish rolls NEW.mmdb out to the config's fleet once it is written, as "httpdns cidrdb
publish NEW.mmdb -config FILE" does (checked as serve loads it, put into Redis as the next version
of the shared CIDRDB, that version printed after the report).

A progress bar with rate and ETA is drawn on a terminal (stderr); otherwise a progress line
is written every few seconds.
`

// runProbe runs one probe round and writes the learnt CIDRDB.
func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("probe", probeUsage, stderr)
	cfgPath := fs.String("config", "", "YAML config `file` (upstreams, geoip, cidrdb, split_log, demand_log); required")
	domains := fs.String("domains", "", "`file` of probe names, one a line; required")
	out := fs.String("out", "", "`path` of the new CIDRDB; required")
	in := fs.String("in", "", "starting CIDRDB `path` (default: the config's cidrdb, else the geo databases at /24)")
	obs := fs.String("observations", "", "observations `file` (JSONL), read then appended (default: observations.jsonl beside -out)")
	signals := fs.String("signals", "", "comma-separated split-log `files` read as passive input (default: the config's split_log and split_log.1)")
	rate := fs.Float64("rate", prober.DefaultRate, "most probe `queries` a second over all upstreams")
	conc := fs.Int("concurrency", 64, "most probes in `flight`")
	report := fs.String("report", "", "write the report as JSON to this `file` too")
	newRound := fs.Bool("new-round", false, "start a new probe round even if the last one is recent")
	noProbe := fs.Bool("no-probe", false, "learn from the observations alone, send no query")
	hyst := fs.String("hysteresis", "auto", "`on`, off or auto: change a block only where two probe rounds agree (auto: on when starting from a CIDRDB)")
	demand := fs.String("demand", "", "comma-separated demand-log `files` of the /56s clients asked from (default: the config's demand_log and demand_log.1)")
	sample6 := fs.Int("sample6", prober.DefaultSample6, "`/56s` probed in every IPv6 network wider than /52 besides the demand ones (0: none)")
	maxQueries := fs.Int("max-queries", 0, "hard budget of probe `queries`, retries included (0: none)")
	contiguous := fs.Bool("contiguous", false, "keep every block one run of adjacent addresses: runs apart that answer alike stay separate blocks")
	publish := fs.Bool("publish", false, "publish -out to the config's fleet once written (as \"httpdns cidrdb publish\")")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || *domains == "" || *out == "" {
		return usageErrorf(fs, "-config, -domains and -out are required")
	}
	if fs.NArg() > 0 {
		return usageErrorf(fs, "unexpected argument %q", fs.Arg(0))
	}
	if *maxQueries < 0 || *sample6 < 0 {
		return usageErrorf(fs, "-max-queries and -sample6 must not be negative")
	}
	if *sample6 == 0 {
		*sample6 = -1 // prober.RunConfig: negative means none
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *publish && !cfg.Fleet.Enabled() {
		return usageErrorf(fs, "-publish needs a config with a fleet section (fleet.redis)")
	}
	names, err := readDomains(*domains)
	if err != nil {
		return err
	}
	geo, err := cidrdb.Open(cidrdb.Config{CityPath: cfg.GeoIP.City, ISPPath: cfg.GeoIP.ISP})
	if err != nil {
		return err
	}
	defer geo.Close()
	rc := prober.RunConfig{
		Probe: prober.ProbeConfig{
			Upstreams: cfg.Upstreams, Domains: names, Rate: *rate, Concurrency: *conc, MaxQueries: *maxQueries,
			Progress: stderr, IsTerminal: isTerminal(stderr),
			Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.Level()})),
		},
		InPath: cmp.Or(*in, cfg.CIDRDB), OutPath: *out, ObservationsPath: *obs, ReportPath: *report,
		SignalPaths: signalPaths(*signals, cfg), Locator: geo, NewRound: *newRound, NoProbe: *noProbe, Contiguous: *contiguous,
		DemandPaths: demandPaths(*demand, cfg), Sample6: *sample6,
	}
	switch *hyst {
	case "auto":
		rc.Hysteresis = rc.InPath != ""
	case "on", "off":
		rc.Hysteresis = *hyst == "on"
	default:
		return usageErrorf(fs, "-hysteresis must be on, off or auto")
	}
	if rc.InPath == "" {
		if rc.Start, err = cidrdb.BuildFromGeo(cfg.GeoIP.City, cfg.GeoIP.ISP, cidrdb.BuildOptions{}); err != nil {
			return err
		}
	}
	rep, err := prober.Run(ctx, rc)
	if err != nil {
		return err
	}
	if err := rep.WriteText(stdout); err != nil || !*publish {
		return err
	}
	return publishCIDRDB(ctx, cfg, *out, stdout)
}

func readDomains(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading probe domains: %w", err)
	}
	defer f.Close()
	names, err := prober.ParseDomains(f)
	if err != nil {
		return nil, fmt.Errorf("reading probe domains %s: %w", path, err)
	}
	return names, nil
}

// signalPaths is -signals split at commas, or the config's split log and its rotated predecessor.
func signalPaths(flagValue string, cfg *Config) []string {
	if flagValue != "" {
		return splitComma(flagValue)
	}
	if cfg.SplitLogMaxBytes == 0 {
		return nil
	}
	return []string{cfg.SplitLog + ".1", cfg.SplitLog}
}

// demandPaths is -demand split at commas, or the config's demand log and its rotated predecessor.
func demandPaths(flagValue string, cfg *Config) []string {
	if flagValue != "" {
		return splitComma(flagValue)
	}
	if cfg.DemandLogMaxBytes == 0 {
		return nil
	}
	return []string{cfg.DemandLog + ".1", cfg.DemandLog}
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isTerminal reports whether w is a character device, where a redrawn progress bar makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
