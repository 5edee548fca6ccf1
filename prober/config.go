package prober

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// Defaults of ProbeConfig. With them, 150,000 probes (12,000 /24s × 12
// names) take 75 s of sending at most: 2,000 probes a second need about 50
// in flight at a 25 ms round trip, well under 64, and spread over three
// nodes that is under 700 queries a second each.
const (
	// DefaultRate is the default ProbeConfig.Rate, in queries a second.
	DefaultRate = 2000
	// DefaultConcurrency is the default ProbeConfig.Concurrency.
	DefaultConcurrency = 64
	// DefaultTimeout is the default ProbeConfig.Timeout of one attempt.
	DefaultTimeout = time.Second
	// DefaultRetries is the default ProbeConfig.Retries.
	DefaultRetries = 3
	// DefaultAbortAfter is the default ProbeConfig.AbortAfter.
	DefaultAbortAfter = 50
)

// ProbeConfig says where and how fast to probe.
type ProbeConfig struct {
	// Upstreams are the recursive nodes probes are sent to, as host:port;
	// required. Each probe goes to a node picked by a hash of its subnet and
	// question; a retry goes to the next node.
	Upstreams []string
	// Domains are the probe names; required. They are canonicalised (lower
	// case, no trailing dot) and deduplicated.
	Domains []string
	// Qtypes are the query types asked for each name. Default: A only.
	Qtypes []uint16
	// Rate is the most queries sent a second over all upstreams, retries
	// included. Default 2000; negative means unlimited.
	Rate float64
	// Concurrency bounds the probes in flight. Default 64.
	Concurrency int
	// Timeout bounds one attempt (UDP, and TCP after a truncated reply).
	// Default 1 s.
	Timeout time.Duration
	// Retries is how often a failed probe is tried again, after an
	// exponential backoff with jitter and on the next node. Default 3;
	// negative means none.
	Retries int
	// AbortAfter is how many probes in a row may fail (after their retries)
	// before the run stops with ErrNoUpstream. Default 50.
	AbortAfter int
	// MaxQueries is a hard budget of DNS queries for the run, retries
	// included: once spent, nothing more is sent, the probes in flight end,
	// and the run returns what it has (Stats.BudgetSpent), without error.
	// 0 means no budget; negative is invalid.
	MaxQueries int
	// Sample are more subnets to probe after every other one (e.g. the
	// sample /56s of wide IPv6 networks, UnitsFor), so a budget spends
	// itself on them last.
	Sample []netip.Prefix
	// Round identifies the run in the observations it writes. Default: the
	// start time in RFC 3339.
	Round string
	// Progress receives the progress display; nil shows none.
	Progress io.Writer
	// IsTerminal makes the progress a one-line bar redrawn in place;
	// otherwise a progress line is written every 5 seconds.
	IsTerminal bool
	// Now is the clock observations are stamped with and a failing node is passed over by
	// (for 5 s after 5 failures in a row). Default time.Now.
	Now func() time.Time
	// Logger receives warnings. Default: discard.
	Logger *slog.Logger
}

// ErrConfig reports an invalid configuration.
var ErrConfig = errors.New("invalid probe configuration")

// withDefaults validates cfg, reporting every problem together, and fills
// its defaults.
func (cfg ProbeConfig) withDefaults() (ProbeConfig, error) {
	var errs []error
	if len(cfg.Upstreams) == 0 {
		errs = append(errs, fmt.Errorf("%w: no upstreams", ErrConfig))
	}
	for _, u := range cfg.Upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			errs = append(errs, fmt.Errorf("%w: upstream %q: %w", ErrConfig, u, err))
		}
	}
	domains, err := canonicalDomains(cfg.Domains)
	errs = append(errs, err)
	if cfg.Concurrency < 0 || cfg.Timeout < 0 || cfg.AbortAfter < 0 || cfg.MaxQueries < 0 {
		errs = append(errs, fmt.Errorf("%w: negative concurrency, timeout, abort-after or max-queries", ErrConfig))
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	cfg.Domains = domains
	return cfg.fill(), nil
}

// fill sets the defaults of cfg's unset fields.
func (cfg ProbeConfig) fill() ProbeConfig {
	cfg.Qtypes = defaultQtypes(cfg.Qtypes)
	cfg.Rate = cmpOr(cfg.Rate, DefaultRate)
	cfg.Concurrency = cmpOr(cfg.Concurrency, DefaultConcurrency)
	cfg.Timeout = cmpOr(cfg.Timeout, DefaultTimeout)
	cfg.AbortAfter = cmpOr(cfg.AbortAfter, DefaultAbortAfter)
	switch {
	case cfg.Retries == 0:
		cfg.Retries = DefaultRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Round == "" {
		cfg.Round = cfg.Now().UTC().Format(time.RFC3339)
	}
	return cfg
}

func cmpOr[T int | float64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// canonicalDomains canonicalises and deduplicates names, keeping their
// order, and refuses an empty list or an invalid name.
func canonicalDomains(names []string) ([]string, error) {
	var out []string
	var errs []error
	for _, n := range names {
		c := canonicalName(n)
		if !validName(c) {
			errs = append(errs, fmt.Errorf("%w: bad domain %q", ErrConfig, n))
			continue
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if len(names) == 0 {
		errs = append(errs, fmt.Errorf("%w: no domains", ErrConfig))
	}
	return out, errors.Join(errs...)
}

func defaultQtypes(qtypes []uint16) []uint16 {
	var out []uint16
	for _, q := range qtypes {
		if !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	if len(out) == 0 {
		out = []uint16{dns.TypeA}
	}
	return out
}

// questions lists every (name, qtype) pair in a fixed order: names in the
// order given, qtypes within each name.
type questions struct {
	names  []string
	qtypes []uint16
}

func (qs questions) len() int { return len(qs.names) * len(qs.qtypes) }

func (qs questions) at(q question) (string, uint16) {
	n := len(qs.qtypes)
	return qs.names[int(q)/n], qs.qtypes[int(q)%n]
}

// index returns the question of (name, qtype), if it is on the list.
func (qs questions) index(name string, qtype uint16) (question, bool) {
	i := slices.Index(qs.names, canonicalName(name))
	j := slices.Index(qs.qtypes, qtype)
	if i < 0 || j < 0 {
		return 0, false
	}
	return question(i*len(qs.qtypes) + j), true
}
