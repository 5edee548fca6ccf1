package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/httpdns/httpdns/internal/atomicfile"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/httpdns/httpdns/api"
	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/resolver"
)

// whitelistKind is the fleet document the whitelist is kept in.
const whitelistKind = "whitelist"

// fleetTimeout bounds one exchange with Redis made on an admin's request or by a sync.
const fleetTimeout = 2 * time.Second

// fleetWhitelist is the whitelist of a node in a fleet (docs/design.md §9.4): the local Whitelist stays
// what lookups read, and Redis is where a change is agreed. An upload is validated, put with
// compare-and-set on the version this node last applied, then applied and saved locally; every node
// follows the notifications (and re-reads every sync interval and on each re-subscription) and applies
// a newer version it finds valid. The version applied is kept in a state file beside the whitelist, so
// a restarted node knows what its local copy is and can restore it into a Redis that came back empty.
type fleetWhitelist struct {
	wl        *resolver.Whitelist
	def       cache.Tier
	store     *fleet.Store
	statePath string
	who       string
	interval  time.Duration
	log       *slog.Logger
	kick      chan struct{} // asks the sync loop for a sync now
	metrics   *fleetMetrics

	mu    sync.Mutex // serialises uploads and syncs; guards state and rejected
	state fleetState
	// rejected is the newest version in Redis this node refused (a bad whitelist written there by
	// hand); an upload replaces it instead of being refused as a conflict forever.
	rejected int64
}

// fleetState is the state file: which fleet version the local whitelist is.
type fleetState struct {
	Version int64     `json:"version"`
	SHA256  string    `json:"sha256"`
	Who     string    `json:"who"`
	When    time.Time `json:"when"`
}

// newFleetWhitelist wraps wl for the fleet. The state file is the whitelist's path plus ".fleet"; a
// missing one, or one that does not describe the whitelist file (edited by hand since), is version 0:
// the node takes whatever the fleet holds.
func newFleetWhitelist(wl *resolver.Whitelist, def cache.Tier, store *fleet.Store, domains, who string,
	interval time.Duration, log *slog.Logger, m *fleetMetrics) (*fleetWhitelist, error) {
	f := &fleetWhitelist{wl: wl, def: def, store: store, statePath: domains + ".fleet", who: who,
		interval: interval, log: log, kick: make(chan struct{}, 1), metrics: m}
	b, err := os.ReadFile(f.statePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading the fleet state %s: %w", f.statePath, err)
	default:
		if err := json.Unmarshal(b, &f.state); err != nil {
			return nil, fmt.Errorf("reading the fleet state %s: %w", f.statePath, err)
		}
		if f.state.SHA256 != fleet.Sum(wl.Text()) {
			log.Warn("fleet: the whitelist file is not the version the state file names; taking the fleet's",
				"state", f.statePath, "version", f.state.Version)
			f.state = fleetState{}
		}
	}
	m.version.Set(float64(f.state.Version))
	return f, nil
}

// Text returns the whitelist this node serves.
func (f *fleetWhitelist) Text() []byte { return f.wl.Text() }

// Version returns the fleet version the local whitelist is (0: none yet).
func (f *fleetWhitelist) Version() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state.Version
}

// Replace is an upload: validate, put into the fleet on the version this node has, apply and save. A
// version conflict is an *api.VersionConflictError (and this node syncs at once); Redis unreachable
// wraps api.ErrFleetUnavailable. Either way the local whitelist is unchanged.
func (f *fleetWhitelist) Replace(text []byte) error {
	if _, err := resolver.ParsePolicy(text, f.def); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), fleetTimeout)
	defer cancel()
	doc, err := f.store.Put(ctx, whitelistKind, text, f.who, max(f.state.Version, f.rejected))
	var ce *fleet.ConflictError
	switch {
	case errors.As(err, &ce):
		f.syncSoon()
		return &api.VersionConflictError{Current: ce.Current}
	case err != nil:
		return fmt.Errorf("%w: %w", api.ErrFleetUnavailable, err)
	}
	// Put the fleet's version in force here even if saving it fails: the fleet has it now.
	return f.apply(doc)
}

// apply makes doc the local whitelist and records its version; mu is held.
func (f *fleetWhitelist) apply(doc fleet.Document) error {
	if err := f.wl.Replace(doc.Body); err != nil {
		return err
	}
	f.state = fleetState{Version: doc.Version, SHA256: doc.SHA256, Who: doc.Who, When: doc.When}
	f.metrics.version.Set(float64(doc.Version))
	b, _ := json.Marshal(f.state) // cannot fail: plain fields
	if err := atomicfile.Write(f.statePath, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("saving the fleet state %s: %w", f.statePath, err)
	}
	return nil
}

func (f *fleetWhitelist) syncSoon() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// sync reads the fleet's whitelist and applies it if it is newer and valid; if the fleet has none, or an
// older one (Redis came back empty), it restores the local copy.
func (f *fleetWhitelist) sync(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, fleetTimeout)
	defer cancel()
	doc, err := f.store.Get(ctx, whitelistKind)
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		f.restore(ctx, 0)
		return
	case errors.Is(err, fleet.ErrCorrupt):
		f.metrics.syncs.WithLabelValues("rejected").Inc()
		f.log.Error("fleet: rejected the shared whitelist, keeping this node's", "version", f.state.Version, "err", err)
		return
	case err != nil:
		f.metrics.syncs.WithLabelValues("error").Inc()
		f.log.Warn("fleet: cannot read the shared whitelist, serving this node's", "version", f.state.Version, "err", err)
		return
	}
	switch {
	case doc.Version < f.state.Version:
		f.restore(ctx, doc.Version)
	case doc.Version > f.state.Version:
		if _, err := resolver.ParsePolicy(doc.Body, f.def); err != nil {
			f.rejected = doc.Version
			f.metrics.syncs.WithLabelValues("rejected").Inc()
			f.log.Error("fleet: rejected the shared whitelist, keeping this node's",
				"version", doc.Version, "who", doc.Who, "current", f.state.Version, "err", err)
			return
		}
		if err := f.apply(doc); err != nil {
			f.metrics.syncs.WithLabelValues("error").Inc()
			f.log.Error("fleet: applying the shared whitelist", "version", doc.Version, "err", err)
			return
		}
		f.metrics.syncs.WithLabelValues("applied").Inc()
		f.log.Info("fleet: applied the shared whitelist", "version", doc.Version, "who", doc.Who, "bytes", len(doc.Body))
	default:
		f.metrics.syncs.WithLabelValues("current").Inc()
	}
}

// restore puts the local copy back into a Redis that holds an older version (have) or none; mu is held.
func (f *fleetWhitelist) restore(ctx context.Context, have int64) {
	if f.state.Version == 0 {
		f.metrics.syncs.WithLabelValues("current").Inc()
		return // nothing of the fleet's here to restore
	}
	doc := fleet.Document{Kind: whitelistKind, Version: f.state.Version, SHA256: f.state.SHA256,
		Who: f.state.Who, When: f.state.When, Body: f.wl.Text()}
	wrote, err := f.store.Restore(ctx, doc)
	switch {
	case err != nil:
		f.metrics.syncs.WithLabelValues("error").Inc()
		f.log.Warn("fleet: restoring the shared whitelist", "version", doc.Version, "err", err)
	case !wrote:
		f.metrics.syncs.WithLabelValues("current").Inc() // another node restored it first
	case wrote:
		f.metrics.syncs.WithLabelValues("restored").Inc()
		f.log.Info("fleet: restored the shared whitelist from this node's copy", "version", doc.Version, "redis_had", have)
	}
}

// run keeps the whitelist in step with the fleet until ctx ends: a sync at once, on every notification,
// on every (re)subscription and every interval.
func (f *fleetWhitelist) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = f.store.Watch(ctx, f.syncSoon, func(kind string, version int64) {
			if kind == whitelistKind {
				f.syncSoon()
			}
		})
	}()
	defer wg.Wait()
	t := time.NewTicker(f.interval)
	defer t.Stop()
	f.sync(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-f.kick:
		}
		f.sync(ctx)
	}
}

// fleetMetrics are the fleet's series; registered with or without a fleet, so the set is fixed.
type fleetMetrics struct {
	version prometheus.Gauge
	syncs   *prometheus.CounterVec
}

func newFleetMetrics(reg prometheus.Registerer) (*fleetMetrics, error) {
	m := &fleetMetrics{
		version: prometheus.NewGauge(prometheus.GaugeOpts{Name: "httpdns_fleet_whitelist_version",
			Help: "Fleet version of the whitelist this node serves (0: none, or no fleet)."}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "httpdns_fleet_syncs_total",
			Help: "Whitelist syncs with the fleet by result: applied, current, rejected, restored, error."}, []string{"result"}),
	}
	for _, r := range []string{"applied", "current", "rejected", "restored", "error"} {
		m.syncs.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.version, m.syncs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("fleet metrics: %w", err)
		}
	}
	return m, nil
}

// openFleet connects to the fleet's Redis; the client is closed by the caller. Nothing is asked of
// Redis here: a node starts and serves its local copy while Redis is down.
func openFleet(cfg *Config) (redis.UniversalClient, *fleet.Store, string, error) {
	var password string
	if cfg.Fleet.PasswordFile != "" {
		b, err := os.ReadFile(cfg.Fleet.PasswordFile)
		if err != nil {
			return nil, nil, "", fmt.Errorf("fleet.password_file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	rdb := fleet.NewClient(cfg.Fleet.Redis, password)
	store, err := fleet.New(rdb, fleet.Config{Prefix: cfg.Fleet.KeyPrefix})
	if err != nil {
		rdb.Close()
		return nil, nil, "", err
	}
	return rdb, store, nodeID(cfg), nil
}

// nodeID is fleet.node_id, or the hostname and the listen port.
func nodeID(cfg *Config) string {
	if cfg.Fleet.NodeID != "" {
		return cfg.Fleet.NodeID
	}
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return host
	}
	return net.JoinHostPort(host, port)
}
