package main

import (
	"fmt"
	"time"

	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/resolver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// openL2 registers the shared answer cache's metrics and, with a fleet (rdb not nil) and
// fleet.l2_cache on, builds it on rdb (docs/design.md §9.5); otherwise it returns nil.
func openL2(f FleetConfig, rdb redis.UniversalClient, reg prometheus.Registerer) (*fleet.L2, error) {
	m, err := fleet.NewL2Metrics(reg)
	if err != nil {
		return nil, err
	}
	if rdb == nil || !f.L2Cache {
		return nil, nil
	}
	l2, err := fleet.NewL2(rdb, fleet.L2Config{Prefix: f.KeyPrefix, Timeout: time.Duration(f.L2Timeout), Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("fleet.l2_cache: %w", err)
	}
	return l2, nil
}

// resolverL2 is the shared answer cache as the resolver takes it: a nil interface when there is none
// (a nil *fleet.L2 in the interface would not compare equal to nil).
func (s *service) resolverL2() resolver.L2 {
	if s.l2 == nil {
		return nil
	}
	return s.l2
}

// l2Stats reads the shared answer cache's counts for the heartbeat; nil when there is none.
func (s *service) l2Stats() func() fleet.L2Stats {
	if s.l2 == nil {
		return nil
	}
	return s.l2.Stats
}
