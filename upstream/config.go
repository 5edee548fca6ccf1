package upstream

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the Config fields.
const (
	DefaultAttemptTimeout = 800 * time.Millisecond
	DefaultCheckInterval  = 2 * time.Second
	DefaultCheckName      = "."
	DefaultHedgeMin       = 2 * time.Millisecond
	DefaultEjectErrorRate = 0.5
	DefaultSlowFactor     = 4
	// DefaultMaxInflight bounds the exchanges running at once. 1024 keeps well over a thousand misses
	// a second going even when every attempt runs into the 800 ms timeout (and about 100,000 a second
	// at 10 ms round trips), while the sockets it can hold open (at most two an exchange, when hedged,
	// plus the idle ones) stay far below the file-descriptor limit Go raises to on start.
	DefaultMaxInflight = 1024
	// DefaultInflightWait is how long Exchange waits for a slot when MaxInflight exchanges are running:
	// long enough to ride out a burst, short enough that a client gets its 503 while it still cares.
	DefaultInflightWait = 100 * time.Millisecond
)

// Config configures a Pool. Zero values take the defaults given.
type Config struct {
	Addrs          []string      // recursive nodes, host:port; required, no duplicates
	AttemptTimeout time.Duration // one attempt at one node; default 800ms
	// CheckInterval is how often ejected and suspect nodes get an active check; default 2s;
	// negative: no periodic checks (the checks that confirm timeouts still run).
	CheckInterval time.Duration
	// CheckName is the known-good name checks ask, type NS; any reply but SERVFAIL (or one that does
	// not match the query) proves the node works; SERVFAIL, silence and network errors count
	// against it. Default "." (every recursive resolver knows the root's NS set).
	CheckName string
	// CheckTimeoutNames is how many distinct names must time out on a node within the health window
	// (30s) before a check of CheckName decides whether the timeouts are the node's; default 3.
	CheckTimeoutNames int
	HedgeMin          time.Duration // least wait before asking a second node; default 2ms; negative: never hedge
	EjectErrorRate    float64       // share of failed recent outcomes (≥10 in 30s) that ejects a node; default 0.5
	SlowFactor        float64       // latency EWMA over this × the others' median (and 50ms) ejects; default 4
	MaxInflight       int           // exchanges running at once, all nodes together; default 1024
	InflightWait      time.Duration // how long Exchange waits for a slot past MaxInflight; default 100ms

	Registerer prometheus.Registerer // nil: metrics not registered
	Logger     *slog.Logger          // nil: discard
	Now        func() time.Time      // clock of the health windows; default time.Now
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AttemptTimeout, DefaultAttemptTimeout)
	def(&c.CheckInterval, DefaultCheckInterval)
	def(&c.HedgeMin, DefaultHedgeMin)
	def(&c.InflightWait, DefaultInflightWait)
	if c.CheckName == "" {
		c.CheckName = DefaultCheckName
	}
	if c.CheckTimeoutNames == 0 {
		c.CheckTimeoutNames = defaultCheckTimeoutNames
	}
	if c.EjectErrorRate == 0 {
		c.EjectErrorRate = DefaultEjectErrorRate
	}
	if c.SlowFactor == 0 {
		c.SlowFactor = DefaultSlowFactor
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// defaultCheckTimeoutNames: one or two names timing out is what a client asking for broken names
// looks like; three distinct ones in 30 s are worth one check of a known-good name.
const defaultCheckTimeoutNames = 3

// Validate reports everything wrong with c once its defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	return c.validate()
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Addrs) == 0 {
		errs = append(errs, ErrNoUpstream)
	}
	seen := make(map[string]bool, len(c.Addrs))
	for _, a := range c.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("upstream %q: %w", a, err))
		}
		if seen[a] {
			errs = append(errs, fmt.Errorf("upstream %q: listed twice", a))
		}
		seen[a] = true
	}
	if c.AttemptTimeout < 0 {
		errs = append(errs, fmt.Errorf("attempt timeout %v: must not be negative", c.AttemptTimeout))
	}
	if _, ok := dns.IsDomainName(c.CheckName); !ok {
		errs = append(errs, fmt.Errorf("health check name %q: not a domain name", c.CheckName))
	}
	if c.CheckTimeoutNames < 1 {
		errs = append(errs, fmt.Errorf("check timeout names %d: must be at least 1", c.CheckTimeoutNames))
	}
	if c.EjectErrorRate <= 0 || c.EjectErrorRate > 1 {
		errs = append(errs, fmt.Errorf("eject error rate %v: must be in (0, 1]", c.EjectErrorRate))
	}
	if c.SlowFactor < 1 {
		errs = append(errs, fmt.Errorf("slow factor %v: must be at least 1", c.SlowFactor))
	}
	if c.MaxInflight < 0 {
		errs = append(errs, fmt.Errorf("max inflight %d: must not be negative", c.MaxInflight))
	}
	if c.InflightWait < 0 {
		errs = append(errs, fmt.Errorf("inflight wait %v: must not be negative", c.InflightWait))
	}
	return errors.Join(errs...)
}
