package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/resolver"
)

// The kinds of shared document.
const (
	whitelistKind = "whitelist"
	accountsKind  = "accounts"
	cidrdbKind    = "cidrdb"
)

// fleetKinds returns the kinds in the order Status reports them.
func fleetKinds() []string { return []string{whitelistKind, accountsKind, cidrdbKind} }

// fleetTimeout bounds one exchange with Redis made on an admin's request or by a sync.
const fleetTimeout = 2 * time.Second

// fleetNode is this node's part in a fleet's shared documents (docs/design.md §9.4): one fleetDoc
// per kind, each with its own sync loop, and one subscription to the fleet's notifications that
// kicks the document named.
type fleetNode struct {
	store    *fleet.Store
	who      string // this node's id, the "who" of its uploads
	interval time.Duration
	log      *slog.Logger
	metrics  *fleetMetrics
	docs     map[string]*fleetDoc
}

func newFleetNode(store *fleet.Store, who string, interval time.Duration, log *slog.Logger, m *fleetMetrics) *fleetNode {
	return &fleetNode{store: store, who: who, interval: interval, log: log, metrics: m, docs: map[string]*fleetDoc{}}
}

// add shares kind through the fleet; its state file is statePath.
func (n *fleetNode) add(kind string, impl docKind, statePath string) (*fleetDoc, error) {
	d, err := newFleetDoc(kind, impl, statePath, n)
	if err != nil {
		return nil, err
	}
	n.docs[kind] = d
	return d, nil
}

// Status reports each shared kind this node follows, in the order whitelist, accounts, cidrdb.
// Safe to call at any time from any goroutine.
func (n *fleetNode) Status() []fleet.DocStatus {
	out := make([]fleet.DocStatus, 0, len(n.docs))
	for _, kind := range fleetKinds() {
		if d := n.docs[kind]; d != nil {
			out = append(out, d.status())
		}
	}
	return out
}

// run keeps every document in step with the fleet until ctx ends: a sync at once, on every
// notification of its kind, on every (re)subscription and every interval.
func (n *fleetNode) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, d := range n.docs {
		wg.Go(func() { d.run(ctx) })
	}
	wg.Go(func() {
		_ = n.store.Watch(ctx, func() {
			for _, d := range n.docs {
				d.syncSoon()
			}
		}, func(kind string, version int64) {
			if d := n.docs[kind]; d != nil {
				d.syncSoon()
			}
		})
	})
	wg.Wait()
}

// waitTried waits until every document's first sync has returned, ctx ends or within has passed,
// whichever is first.
func (n *fleetNode) waitTried(ctx context.Context, within time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for _, d := range n.docs {
		select {
		case <-d.tried:
		case <-ctx.Done():
			return
		}
	}
}

// fleetWhitelist is the whitelist shared through the fleet: api.Whitelist for /admin/domains.
type fleetWhitelist struct {
	wl  *resolver.Whitelist
	def cache.Tier
	doc *fleetDoc
	who string
}

func (f *fleetWhitelist) validate(body []byte) error {
	_, err := resolver.ParsePolicy(body, f.def)
	return err
}

func (f *fleetWhitelist) apply(body []byte) error { return f.wl.Replace(body) }

func (f *fleetWhitelist) local() ([]byte, error) { return f.wl.Text(), nil }

// Text returns the whitelist this node serves.
func (f *fleetWhitelist) Text() []byte { return f.wl.Text() }

// Replace is an upload through the fleet (fleetDoc.publish).
func (f *fleetWhitelist) Replace(text []byte) error {
	_, err := f.doc.publish(text, f.who)
	return err
}

// shareWhitelist puts wl (the file domains) under the fleet; its state file is domains + ".fleet".
func (n *fleetNode) shareWhitelist(wl *resolver.Whitelist, def cache.Tier, domains string) (*fleetWhitelist, error) {
	f := &fleetWhitelist{wl: wl, def: def, who: n.who}
	var err error
	if f.doc, err = n.add(whitelistKind, f, domains+".fleet"); err != nil {
		return nil, err
	}
	return f, nil
}

// fleetMetrics are the fleet's series; registered with or without a fleet, so the set is fixed.
type fleetMetrics struct {
	version *prometheus.GaugeVec
	syncs   *prometheus.CounterVec
}

func newFleetMetrics(reg prometheus.Registerer) (*fleetMetrics, error) {
	m := &fleetMetrics{
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "httpdns_fleet_version",
			Help: "Fleet version of each shared document this node serves (0: none yet, or no fleet)."}, []string{"kind"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "httpdns_fleet_syncs_total",
			Help: "Syncs of each shared document with the fleet by result: applied, current, rejected, restored, error."},
			[]string{"kind", "result"}),
	}
	for _, kind := range fleetKinds() {
		m.version.WithLabelValues(kind)
		for _, r := range []string{"applied", "current", "rejected", "restored", "error"} {
			m.syncs.WithLabelValues(kind, r)
		}
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
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return hostname()
	}
	return net.JoinHostPort(hostname(), port)
}
