package resolver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the pool's Config fields.
const (
	defaultCheckInterval  = 2 * time.Second
	defaultCheckName      = "."
	defaultHedgeMin       = 2 * time.Millisecond
	defaultEjectErrorRate = 0.5
	defaultSlowFactor     = 4
)

// poolConfig is what the upstream pool takes from the resolver's Config, defaults applied.
type poolConfig struct {
	addrs         []string
	attempt       time.Duration // one attempt
	checkInterval time.Duration // active checks of ejected nodes; healthy ones every healthyCheckRounds
	checkName     string        // asked, type NS, by active checks
	hedgeMin      time.Duration // least wait before hedging; negative: no hedging
	ejectRate     float64       // share of failed recent attempts that ejects a node
	slowFactor    float64       // EWMA over this many times the others' median ejects a node
	now           func() time.Time
	logger        *slog.Logger
	registerer    prometheus.Registerer
}

// poolConfig returns the upstream pool's part of c; c's defaults must be set.
func (c *Config) poolConfig() poolConfig {
	return poolConfig{
		addrs:         c.Upstreams,
		attempt:       c.UpstreamTimeout,
		checkInterval: c.HealthCheckInterval,
		checkName:     dns.Fqdn(c.HealthCheckName),
		hedgeMin:      c.HedgeMin,
		ejectRate:     c.EjectErrorRate,
		slowFactor:    c.SlowFactor,
		now:           c.Now,
		logger:        c.Logger,
		registerer:    c.Registerer,
	}
}

// setPoolDefaults fills the pool's zero Config fields; setDefaults calls it.
func (c *Config) setPoolDefaults() {
	if c.HealthCheckInterval == 0 {
		c.HealthCheckInterval = defaultCheckInterval
	}
	if c.HealthCheckName == "" {
		c.HealthCheckName = defaultCheckName
	}
	if c.HedgeMin == 0 {
		c.HedgeMin = defaultHedgeMin
	}
	if c.EjectErrorRate == 0 {
		c.EjectErrorRate = defaultEjectErrorRate
	}
	if c.SlowFactor == 0 {
		c.SlowFactor = defaultSlowFactor
	}
}

// validatePool reports what is wrong with the pool's Config fields; validate calls it.
func (c *Config) validatePool() error {
	var errs []error
	seen := make(map[string]bool, len(c.Upstreams))
	for _, a := range c.Upstreams {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("upstream %q: %w", a, err))
		}
		if seen[a] {
			errs = append(errs, fmt.Errorf("upstream %q: listed twice", a))
		}
		seen[a] = true
	}
	if c.HealthCheckInterval < 0 {
		errs = append(errs, fmt.Errorf("health check interval %v: must not be negative", c.HealthCheckInterval))
	}
	if _, ok := dns.IsDomainName(c.HealthCheckName); !ok {
		errs = append(errs, fmt.Errorf("health check name %q: not a domain name", c.HealthCheckName))
	}
	if c.EjectErrorRate <= 0 || c.EjectErrorRate > 1 {
		errs = append(errs, fmt.Errorf("eject error rate %v: must be in (0, 1]", c.EjectErrorRate))
	}
	if c.SlowFactor < 1 {
		errs = append(errs, fmt.Errorf("slow factor %v: must be at least 1", c.SlowFactor))
	}
	return errors.Join(errs...)
}
