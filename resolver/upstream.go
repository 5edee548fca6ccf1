package resolver

import (
	"context"
	"errors"
	"fmt"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/upstream"
	"github.com/miekg/dns"
)

// upstreamConfig is the upstream pool's part of c; c's defaults must be set.
func (c *Config) upstreamConfig() upstream.Config {
	return upstream.Config{
		Addrs:          c.Upstreams,
		AttemptTimeout: c.UpstreamTimeout,
		CheckInterval:  c.HealthCheckInterval,
		CheckName:      c.HealthCheckName,
		HedgeMin:       c.HedgeMin,
		EjectErrorRate: c.EjectErrorRate,
		SlowFactor:     c.SlowFactor,
		MaxInflight:    c.UpstreamMaxInflight,
		Registerer:     c.Registerer,
		Logger:         c.Logger,
		Now:            c.Now,
	}
}

// setPoolDefaults fills the upstream pool's zero Config fields; setDefaults calls it.
func (c *Config) setPoolDefaults() {
	if c.HealthCheckInterval == 0 {
		c.HealthCheckInterval = upstream.DefaultCheckInterval
	}
	if c.HealthCheckName == "" {
		c.HealthCheckName = upstream.DefaultCheckName
	}
	if c.HedgeMin == 0 {
		c.HedgeMin = upstream.DefaultHedgeMin
	}
	if c.EjectErrorRate == 0 {
		c.EjectErrorRate = upstream.DefaultEjectErrorRate
	}
	if c.SlowFactor == 0 {
		c.SlowFactor = upstream.DefaultSlowFactor
	}
	if c.UpstreamMaxInflight == 0 {
		c.UpstreamMaxInflight = upstream.DefaultMaxInflight
	}
}

// validatePool reports what is wrong with the upstream pool's Config fields; validate calls it.
func (c *Config) validatePool() error {
	var errs []error
	if c.HealthCheckInterval < 0 {
		errs = append(errs, fmt.Errorf("health check interval %v: must not be negative", c.HealthCheckInterval))
	}
	if len(c.Upstreams) > 0 { // none is reported by validate
		errs = append(errs, c.upstreamConfig().Validate())
	}
	return errors.Join(errs...)
}

// exchange asks the upstream pool for q under key (name + "|" + scope). A client's miss waits
// briefly for a slot when the pool is at its cap; background work (refresh, prefetch) never waits.
// A pool at its cap is ErrUpstreamBusy (not cached: it is the service's load, not the name's).
func (r *Resolver) exchange(ctx context.Context, q *dns.Msg, key string, kind Kind) (*dns.Msg, error) {
	var (
		reply *dns.Msg
		err   error
	)
	if kind == KindMiss {
		reply, err = r.pool.Exchange(ctx, q, key)
	} else {
		reply, err = r.pool.TryExchange(ctx, q, key)
	}
	if errors.Is(err, upstream.ErrBusy) {
		return nil, errors.Join(ErrUpstreamBusy, err)
	}
	return reply, err
}

// ask asks upstream for req's name and type with req's ECS source, on the node the consistent hash
// of (name, key's scope) picks, and parses the reply as every reply is parsed (msg.go). It is the
// one way a fetch (fetch.go) and a fresh answer beside the cache (explain.go) go upstream.
func (r *Resolver) ask(ctx context.Context, req *request, key cache.Key, kind Kind) (parsed, error) {
	reply, err := r.exchange(ctx, newQuery(req.name, req.qtype, req.src), req.name+"|"+key.Scope, kind)
	if err != nil {
		return parsed{}, err
	}
	return parseReply(reply, req.name, req.qtype, r.ttlSeconds(r.cfg.NegativeMaxTTL)), nil
}
