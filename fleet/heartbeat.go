package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Heartbeat defaults and bounds.
const (
	// DefaultHeartbeatInterval is how often a node publishes its heartbeat when
	// HeartbeatConfig.Interval is 0, and the most it is made to wait between two.
	DefaultHeartbeatInterval = 5 * time.Second
	// heartbeatLives is how many intervals a heartbeat outlives its sending: a node is listed while one
	// of its last three heartbeats is in Redis, so one lost or late heartbeat does not drop it.
	heartbeatLives = 3
	// forgetAfter is how long a node's id stays in the index after its last heartbeat; past it, the
	// next heartbeat of any node removes it. Only the index is pruned so: whether a node is alive is
	// its heartbeat key's TTL, on Redis's clock.
	forgetAfter = time.Hour
	// maxNodes bounds how many nodes Nodes reads, the most recently seen first.
	maxNodes = 1000
	// leaveTimeout bounds the farewell a stopping node writes (deleting its heartbeat).
	leaveTimeout = time.Second
	// MaxHeartbeatBytes bounds a heartbeat's JSON: PutHeartbeat refuses a larger one and Nodes reads no
	// more of a heartbeat key (anyone who reaches Redis can write one of 512 MB under each of maxNodes ids),
	// leaving a larger one out. A node's own heartbeat is a few hundred bytes a document, under 10 KiB at
	// worst (the longest id and senders, three last errors of escaped quotes: TestNodesBoundHostileHeartbeats);
	// every node reads every heartbeat at each beat.
	MaxHeartbeatBytes = 16 << 10
	// MaxHeartbeatDocs bounds the documents Nodes keeps of one heartbeat (a node serves three kinds):
	// each is a Redis read for /admin/fleet.
	MaxHeartbeatDocs = 16
	// maxLastError bounds a document's LastError in a heartbeat: an error listing every bad line of a
	// refused whitelist would otherwise make the heartbeat as large as the whitelist.
	maxLastError = 1024
)

// Heartbeat is what a node publishes about itself every interval (keys: see the package comment).
type Heartbeat struct {
	// ID is the node's id (fleet.node_id).
	ID string `json:"id"`
	// Listen and AdminListen are the addresses the node serves its public and admin APIs on.
	Listen      string `json:"listen,omitempty"`
	AdminListen string `json:"admin_listen,omitempty"`
	// Started is when the node started, Sent when it sent this heartbeat, both by its own clock.
	Started time.Time `json:"started"`
	Sent    time.Time `json:"sent"`
	// TTL is how long this heartbeat lives in Redis: three intervals.
	TTL time.Duration `json:"ttl_ns"`
	// Docs are the shared documents the node serves ("whitelist", "accounts", "cidrdb"), by kind.
	Docs []DocStatus `json:"docs,omitempty"`
	// L2 counts the node's second-level cache reads and writes since it started; nil: no L2.
	L2 *L2Stats `json:"l2,omitempty"`
}

// Node is a node seen alive: its last heartbeat and how long ago it was written.
type Node struct {
	Heartbeat
	// Age is the time since the heartbeat was written, by Redis's clock (its TTL less what is left of
	// it), so the nodes' clocks need not agree.
	Age time.Duration
}

func (s *Store) nodeKey(id string) string { return s.prefix + "node:" + id }
func (s *Store) nodesKey() string         { return s.prefix + "nodes" }

// CheckNodeID accepts a node id of 1 to 255 bytes of printable characters: the id is part of a Redis key
// and shown to operators.
func CheckNodeID(id string) error {
	if id == "" || len(id) > 255 {
		return fmt.Errorf("node id %q: want 1 to 255 bytes", id)
	}
	for _, r := range id {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("node id %q has a non-printable character", id)
		}
	}
	return nil
}

// indexScript scores node ARGV[1] in the index KEYS[1] with Redis's time in milliseconds and drops the ids
// not seen for ARGV[2] milliseconds: on Redis's clock, so a node whose clock is wrong cannot drop the others.
const indexScript = `
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], ms, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', ms - tonumber(ARGV[2])))
return ms
`

// nodesScript returns the ARGV[1] ids of the index KEYS[1] heard from most recently, by Redis's clock, of at
// most ARGV[2] bytes: an id scored in the future (no node can be: indexScript scores with Redis's time) would
// stay first for ever and hide the fleet, and a long one is no node's, so neither is sent.
const nodesScript = `
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[1], ms + 1000, '-inf', 'LIMIT', 0, tonumber(ARGV[1]))) do
  if #id <= tonumber(ARGV[2]) then out[#out + 1] = id end
end
return out
`

// PutHeartbeat writes hb as its node's heartbeat, alive for hb.TTL, and indexes the node. Each node's
// heartbeat is one key and the index another, written in one pipeline without a transaction, so it
// works the same on a Redis Cluster; the index also drops the ids not seen for an hour (Redis's clock).
func (s *Store) PutHeartbeat(ctx context.Context, hb Heartbeat) error {
	if err := CheckNodeID(hb.ID); err != nil {
		return err
	}
	if hb.TTL < time.Millisecond {
		return fmt.Errorf("fleet: heartbeat of %s: TTL %v is under a millisecond", hb.ID, hb.TTL)
	}
	b, err := json.Marshal(hb)
	if err != nil {
		return fmt.Errorf("fleet: encoding the heartbeat of %s: %w", hb.ID, err)
	}
	if len(b) > MaxHeartbeatBytes {
		return fmt.Errorf("fleet: the heartbeat of %s is %d bytes, over %d: no node would read it", hb.ID, len(b), MaxHeartbeatBytes)
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.nodeKey(hb.ID), b, hb.TTL)
		p.Eval(ctx, indexScript, []string{s.nodesKey()}, hb.ID, forgetAfter.Milliseconds())
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing the heartbeat of %s to redis: %w", hb.ID, err)
	}
	return nil
}

// DeleteHeartbeat removes a node's heartbeat and its id from the index: a node that stops says so.
func (s *Store) DeleteHeartbeat(ctx context.Context, id string) error {
	if err := CheckNodeID(id); err != nil {
		return err
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.nodeKey(id))
		p.ZRem(ctx, s.nodesKey(), id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting the heartbeat of %s from redis: %w", id, err)
	}
	return nil
}

// Nodes returns the nodes whose heartbeat is alive, sorted by id (of a fleet over maxNodes, the 1000
// heard from most recently). It reads the index, then every indexed node's heartbeat and its remaining TTL in one pipeline: no SCAN, which a
// Redis Cluster would need on every master. A heartbeat gone (its node stopped beating), not
// this package's JSON, over MaxHeartbeatBytes (read no further), or without a TTL (not written by
// PutHeartbeat) is left out, and so is an indexed id CheckNodeID refuses; of a node's documents, those of
// a kind no document may have are dropped, and those past MaxHeartbeatDocs.
func (s *Store) Nodes(ctx context.Context) ([]Node, error) {
	ids, err := s.rdb.Eval(ctx, nodesScript, []string{s.nodesKey()}, maxNodes, 255).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("reading the fleet's nodes from redis: %w", err)
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return CheckNodeID(id) != nil }) // not a node's
	gets := make([]*redis.StringCmd, len(ids))
	ttls := make([]*redis.DurationCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			// At most one byte over the bound, to tell a heartbeat over it; a key gone reads "".
			gets[i] = p.GetRange(ctx, s.nodeKey(id), 0, MaxHeartbeatBytes)
			ttls[i] = p.PTTL(ctx, s.nodeKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) { // Nil: some heartbeat is gone, which each Get says
		return nil, fmt.Errorf("reading the fleet's heartbeats from redis: %w", err)
	}
	nodes := make([]Node, 0, len(ids))
	for i, id := range ids {
		var n Node
		b, err := gets[i].Bytes()
		left := ttls[i].Val()
		if err != nil || len(b) > MaxHeartbeatBytes || left <= 0 || json.Unmarshal(b, &n.Heartbeat) != nil || n.ID != id {
			continue
		}
		// Only documents a node could serve: a kind that is no key's part would fail the reading of the
		// versions of every node's documents, and each kind is one more read.
		n.Docs = slices.DeleteFunc(n.Docs, func(d DocStatus) bool { return checkKind(d.Kind) != nil })
		n.Docs = n.Docs[:min(len(n.Docs), MaxHeartbeatDocs)]
		n.Age = max(n.TTL-left, 0)
		nodes = append(nodes, n)
	}
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	return nodes, nil
}

// Versions returns the version Redis holds of each kind (0: none, or not a version this package wrote),
// reading only the version field of each document.
func (s *Store) Versions(ctx context.Context, kinds ...string) (map[string]int64, error) {
	cmds := make([]*redis.StringCmd, len(kinds))
	for _, kind := range kinds {
		if err := checkKind(kind); err != nil {
			return nil, err
		}
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, kind := range kinds {
			cmds[i] = p.HGet(ctx, s.key(kind), "version")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reading the documents' versions from redis: %w", err)
	}
	out := make(map[string]int64, len(kinds))
	for i, kind := range kinds {
		v, _ := cmds[i].Int64() // absent or not a number: 0
		out[kind] = max(v, 0)
	}
	return out, nil
}

// HeartbeatConfig configures a Heartbeater.
type HeartbeatConfig struct {
	// ID is the node's id. Required.
	ID string
	// Listen and AdminListen are the addresses published (the node's public and admin APIs).
	Listen, AdminListen string
	// Interval is the time between two heartbeats; default DefaultHeartbeatInterval, and never more.
	Interval time.Duration
	// Docs returns the state of the shared documents the node serves, read at each heartbeat; nil: none.
	Docs func() []DocStatus
	// L2 returns the node's second-level cache counts (L2.Stats), read at each heartbeat; nil: the node
	// has no L2. A func, so it can be wired after the Heartbeater is made.
	L2 func() L2Stats
	// Now is the node's clock; default time.Now.
	Now func() time.Time
	// Metrics counts the heartbeats and the nodes seen; nil: counted unregistered.
	Metrics *HeartbeatMetrics
	// Logger receives a line when heartbeats start failing and when they work again; nil: discard.
	Logger *slog.Logger
}

// Heartbeater publishes one node's heartbeat every interval until its Run ends.
type Heartbeater struct {
	store   *Store
	cfg     HeartbeatConfig
	started time.Time
	failing bool // the last heartbeat failed; Run's goroutine only
}

// NewHeartbeater returns a Heartbeater for the node cfg describes, publishing into s.
func (s *Store) NewHeartbeater(cfg HeartbeatConfig) (*Heartbeater, error) {
	if err := CheckNodeID(cfg.ID); err != nil {
		return nil, err
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("fleet: heartbeat interval %v is negative", cfg.Interval)
	}
	if cfg.Interval == 0 || cfg.Interval > DefaultHeartbeatInterval {
		cfg.Interval = DefaultHeartbeatInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics, _ = NewHeartbeatMetrics(nil) // cannot fail without a registerer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Heartbeater{store: s, cfg: cfg, started: cfg.Now()}, nil
}

// Interval is the time between two heartbeats.
func (h *Heartbeater) Interval() time.Duration { return h.cfg.Interval }

// Heartbeat returns the heartbeat the node would publish now.
func (h *Heartbeater) Heartbeat() Heartbeat {
	hb := Heartbeat{ID: h.cfg.ID, Listen: h.cfg.Listen, AdminListen: h.cfg.AdminListen,
		Started: h.started.UTC(), Sent: h.cfg.Now().UTC(), TTL: heartbeatLives * h.cfg.Interval}
	if h.cfg.Docs != nil {
		hb.Docs = slices.Clone(h.cfg.Docs())
		for i, d := range hb.Docs {
			if len(d.LastError) > maxLastError {
				hb.Docs[i].LastError = strings.ToValidUTF8(d.LastError[:maxLastError], "") + "…"
			}
		}
	}
	if h.cfg.L2 != nil {
		l2 := h.cfg.L2()
		hb.L2 = &l2
	}
	return hb
}

// Beat publishes one heartbeat, then counts the nodes alive for httpdns_fleet_nodes.
func (h *Heartbeater) Beat(ctx context.Context) error {
	if err := h.store.PutHeartbeat(ctx, h.Heartbeat()); err != nil {
		h.cfg.Metrics.beats.WithLabelValues("error").Inc()
		return err
	}
	h.cfg.Metrics.beats.WithLabelValues("ok").Inc()
	nodes, err := h.store.Nodes(ctx)
	if err != nil {
		return err
	}
	h.cfg.Metrics.nodes.Set(float64(len(nodes)))
	return nil
}

// Run publishes a heartbeat at once and every interval until ctx ends, each given an interval to
// finish; then it deletes the node's heartbeat, so that the node leaves the list at once rather
// than three intervals later. A failing Redis is logged when it starts failing and when it is back.
func (h *Heartbeater) Run(ctx context.Context) {
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		bctx, cancel := context.WithTimeout(ctx, h.cfg.Interval)
		err := h.Beat(bctx)
		cancel()
		h.report(ctx, err)
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaveTimeout)
			defer cancel()
			_ = h.store.DeleteHeartbeat(lctx, h.cfg.ID) // at worst it expires after its TTL
			return
		case <-t.C:
		}
	}
}

// report logs a change between working and failing heartbeats.
func (h *Heartbeater) report(ctx context.Context, err error) {
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil && !h.failing:
		h.failing = true
		h.cfg.Logger.Warn("fleet: heartbeats failing; the node keeps serving", "node", h.cfg.ID, "err", err)
	case err == nil && h.failing:
		h.failing = false
		h.cfg.Logger.Info("fleet: heartbeats work again", "node", h.cfg.ID)
	}
}

// HeartbeatMetrics are the heartbeats' series:
//
//	httpdns_fleet_heartbeats_total{result}   heartbeats published: ok, error
//	httpdns_fleet_nodes                      nodes alive at this node's last heartbeat, itself included
type HeartbeatMetrics struct {
	beats *prometheus.CounterVec
	nodes prometheus.Gauge
}

// NewHeartbeatMetrics builds the heartbeats' series and registers them with reg (nil: none), so a node
// can register them whether or not it is in a fleet and its set of series stays fixed.
func NewHeartbeatMetrics(reg prometheus.Registerer) (*HeartbeatMetrics, error) {
	m := &HeartbeatMetrics{
		beats: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "httpdns_fleet_heartbeats_total",
			Help: "Fleet heartbeats this node published, by result: ok, error."}, []string{"result"}),
		nodes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "httpdns_fleet_nodes",
			Help: "Fleet nodes alive (heartbeat in Redis) at this node's last heartbeat, itself included; 0 without a fleet."}),
	}
	m.beats.WithLabelValues("ok")
	m.beats.WithLabelValues("error")
	if reg == nil {
		return m, nil
	}
	if err := reg.Register(m.beats); err != nil {
		return nil, fmt.Errorf("fleet heartbeat metrics: %w", err)
	}
	if err := reg.Register(m.nodes); err != nil {
		reg.Unregister(m.beats) // all or nothing, so that a retry can register them
		return nil, fmt.Errorf("fleet heartbeat metrics: %w", err)
	}
	return m, nil
}
