package main

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/httpdns/httpdns/prober"
	"github.com/httpdns/httpdns/resolver"
	"github.com/prometheus/client_golang/prometheus"
)

// demandShards spreads the demand log's seen-set over locks, so IPv6 requests on many cores do not
// queue on one mutex.
const demandShards = 16

// demandLog records which IPv6 /56s asked, for the prober (prober.Demand lines, source "demand"):
// `probe` probes those /56s instead of enumerating wide IPv6 allocations. The resolver calls
// RecordDemand on every IPv6 request, hits included, so a /56 is written at most once a period
// (demand_log_period): a repeat costs a map lookup under one of demandShards locks and allocates
// nothing. At most maxPrefixes /56s are kept a period; past that, new ones are dropped and counted.
// The file is a bounded, rotated jsonlLog beside the split log.
type demandLog struct {
	log         *jsonlLog
	period      time.Duration
	maxPrefixes int64
	now         func() time.Time
	count       atomic.Int64 // /56s kept in the current period
	shards      [demandShards]demandShard

	countEpochMu sync.Mutex
	countEpoch   int64 // the period count belongs to
}

type demandShard struct {
	mu    sync.Mutex
	epoch int64 // the period the set belongs to
	seen  map[netip.Prefix]struct{}
}

// newDemandLog opens (appends to) path; Close stops it.
func newDemandLog(path string, maxBytes int64, period time.Duration, maxPrefixes int, reg prometheus.Registerer,
	logger *slog.Logger, now func() time.Time) (*demandLog, error) {
	l, err := newJSONLLog("demand_log", path, maxBytes, logger, now)
	if err != nil {
		return nil, err
	}
	if reg != nil {
		reg.MustRegister(l.collectors()...)
	}
	d := &demandLog{log: l, period: period, maxPrefixes: int64(maxPrefixes), now: now}
	for i := range d.shards {
		d.shards[i].seen = map[netip.Prefix]struct{}{}
	}
	return d, nil
}

// RecordDemand writes sig's /56 unless it was written this period; it never blocks.
func (d *demandLog) RecordDemand(sig resolver.DemandSignal) {
	p := sig.Source.Masked()
	if !p.IsValid() {
		return
	}
	t := sig.Time
	if t.IsZero() {
		t = d.now()
	}
	epoch := t.UnixNano() / int64(d.period)
	b := p.Addr().As16()
	s := &d.shards[(b[5]^b[6])%demandShards]
	s.mu.Lock()
	if s.epoch < epoch { // a new period: every /56 is written once again
		clear(s.seen)
		s.epoch = epoch
		d.resetCount(epoch)
	}
	_, dup := s.seen[p]
	full := !dup && d.count.Load() >= d.maxPrefixes
	if !dup && !full {
		s.seen[p] = struct{}{}
		d.count.Add(1)
	}
	s.mu.Unlock()
	switch {
	case dup:
	case full:
		d.log.dropped.Inc()
	default:
		d.log.Record(prober.Demand{Subnet: p, Domain: sig.Name, Qtype: sig.Qtype, Block: sig.Block,
			Time: t.UTC(), Source: prober.SourceDemand})
	}
}

// resetCount starts the period's count once, by the first shard that sees the period.
func (d *demandLog) resetCount(epoch int64) {
	d.countEpochMu.Lock()
	if d.countEpoch < epoch {
		d.countEpoch = epoch
		d.count.Store(0)
	}
	d.countEpochMu.Unlock()
}

// Close writes what is queued and closes the file; later signals are dropped.
func (d *demandLog) Close() { d.log.Close() }
