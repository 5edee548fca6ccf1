package fleet_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/redistest"
)

// metric reads a gauge's or counter's value from reg; labels are name, value pairs.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s %v", name, labels)
	return 0
}

// newMetrics registers a Heartbeater's metrics with a registry of their own.
func newMetrics(t *testing.T) (*fleet.HeartbeatMetrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := fleet.NewHeartbeatMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func newHeartbeater(t *testing.T, s *fleet.Store, cfg fleet.HeartbeatConfig) *fleet.Heartbeater {
	t.Helper()
	h, err := s.NewHeartbeater(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// nodeIDs returns the ids Nodes lists, in its order.
func nodeIDs(t *testing.T, s *fleet.Store) []string {
	t.Helper()
	nodes, err := s.Nodes(ctxTimeout(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, n := range nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

// waitNodes polls Nodes until it lists want (heartbeats expire on Redis's clock, which the test cannot
// drive), failing after limit.
func waitNodes(t *testing.T, s *fleet.Store, want []string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := nodeIDs(t, s)
		if reflect.DeepEqual(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes %v after %v, want %v", got, limit, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A heartbeat carries the node's addresses, documents and L2 counts; Nodes lists every node alive with
// its age, by Redis's clock even when the node's own clock is a year off.
func TestHeartbeatRoundTrip(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newStore(t, addr, fleet.Config{})
	ctx := ctxTimeout(t, 5*time.Second)
	synced := time.Date(2026, 12, 7, 0, 10, 0, 0, time.UTC)
	docs := []fleet.DocStatus{
		{Kind: "cidrdb", Version: 1, LastSync: synced, LastError: "version 2 rejected: not an mmdb"},
		{Kind: "whitelist", Version: 3, SHA256: fleet.Sum([]byte("a.test subnet\n")), Who: "admin@n1", When: synced.Add(-time.Hour), LastSync: synced},
	}
	l2 := fleet.L2Stats{Hits: 30, Misses: 9, Errors: 1, Written: 9, BreakerOpen: true}
	skewed := func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }
	m, reg := newMetrics(t)
	n1 := newHeartbeater(t, s, fleet.HeartbeatConfig{ID: "n1", Listen: "127.0.0.1:8053", AdminListen: "127.0.0.1:8054",
		Interval: time.Minute, Docs: func() []fleet.DocStatus { return docs }, L2: func() fleet.L2Stats { return l2 },
		Now: skewed, Metrics: m})
	n2 := newHeartbeater(t, s, fleet.HeartbeatConfig{ID: "n2 [::1]:80", Interval: 2 * time.Second})
	if n1.Interval() != fleet.DefaultHeartbeatInterval || n2.Interval() != 2*time.Second {
		t.Fatalf("intervals %v, %v; want the 5s cap and 2s", n1.Interval(), n2.Interval())
	}
	if err := n2.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n1.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].ID != "n1" || nodes[1].ID != "n2 [::1]:80" {
		t.Fatalf("nodes %+v, want n1 then n2 (by id)", nodes)
	}
	got := nodes[0]
	if got.Listen != "127.0.0.1:8053" || got.AdminListen != "127.0.0.1:8054" || !got.Sent.Equal(skewed()) ||
		!got.Started.Equal(skewed()) || got.TTL != 15*time.Second {
		t.Fatalf("n1's heartbeat %+v", got.Heartbeat)
	}
	if !reflect.DeepEqual(got.Docs, docs) {
		t.Fatalf("n1's docs %+v, want %+v", got.Docs, docs)
	}
	if got.L2 == nil || *got.L2 != l2 || got.L2.HitRatio() != 0.75 {
		t.Fatalf("n1's L2 %+v, want %+v with hit ratio 0.75", got.L2, l2)
	}
	if got.Age < 0 || got.Age > 2*time.Second {
		t.Fatalf("n1's age %v: want the time since its heartbeat by Redis's clock, not its own", got.Age)
	}
	if nodes[1].L2 != nil || nodes[1].Docs != nil || nodes[1].TTL != 6*time.Second {
		t.Fatalf("n2's heartbeat %+v: want no L2, no docs, TTL 6s", nodes[1].Heartbeat)
	}
	if v := metric(t, reg, "httpdns_fleet_nodes"); v != 2 {
		t.Fatalf("httpdns_fleet_nodes %v after n1's beat, want 2", v)
	}
	if v := metric(t, reg, "httpdns_fleet_heartbeats_total", "result", "ok"); v != 1 {
		t.Fatalf("httpdns_fleet_heartbeats_total{result=ok} %v, want 1", v)
	}
}

// A node that stops heartbeating leaves the list once its TTL (three intervals) has passed; the others stay.
func TestHeartbeatExpires(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newStore(t, addr, fleet.Config{})
	ctx := ctxTimeout(t, 10*time.Second)
	short := newHeartbeater(t, s, fleet.HeartbeatConfig{ID: "short", Interval: 100 * time.Millisecond})
	long := newHeartbeater(t, s, fleet.HeartbeatConfig{ID: "long", Interval: 5 * time.Second})
	for _, h := range []*fleet.Heartbeater{long, short} {
		if err := h.Beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if got := nodeIDs(t, s); !reflect.DeepEqual(got, []string{"long", "short"}) {
		t.Fatalf("nodes %v right after their heartbeats", got)
	}
	waitNodes(t, s, []string{"long"}, 5*time.Second)
	if gone := time.Since(start); gone < 250*time.Millisecond {
		t.Fatalf("short left after %v, before its 300ms TTL", gone)
	}
	if err := short.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	if got := nodeIDs(t, s); !reflect.DeepEqual(got, []string{"long", "short"}) {
		t.Fatalf("nodes %v after short beats again, want it back", got)
	}
}

// Run beats at once and every interval; when its context ends, the node leaves the list at once.
func TestHeartbeatRunAndLeave(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newStore(t, addr, fleet.Config{})
	m, reg := newMetrics(t)
	h := newHeartbeater(t, s, fleet.HeartbeatConfig{ID: "n1", Interval: 50 * time.Millisecond, Metrics: m})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); h.Run(ctx) }()
	waitNodes(t, s, []string{"n1"}, 5*time.Second)
	// Beats go on: after several TTLs the node is still listed.
	time.Sleep(400 * time.Millisecond)
	if got := nodeIDs(t, s); !reflect.DeepEqual(got, []string{"n1"}) {
		t.Fatalf("nodes %v after 400ms of 50ms heartbeats, want n1", got)
	}
	if n := metric(t, reg, "httpdns_fleet_heartbeats_total", "result", "ok"); n < 3 {
		t.Fatalf("%v heartbeats in 400ms at 50ms intervals", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if got := nodeIDs(t, s); len(got) != 0 {
		t.Fatalf("nodes %v right after n1 stopped, want none: it must delete its heartbeat", got)
	}
}

// Keys written by hand — not JSON, another node's id, no TTL — are not listed as nodes; the prefix keeps
// two fleets in one Redis apart.
func TestNodesSkipForeignHeartbeats(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newStore(t, addr, fleet.Config{})
	other := newStore(t, addr, fleet.Config{Prefix: "other:"})
	ctx := ctxTimeout(t, 5*time.Second)
	for _, h := range []*fleet.Heartbeater{
		newHeartbeater(t, s, fleet.HeartbeatConfig{ID: "good"}),
		newHeartbeater(t, other, fleet.HeartbeatConfig{ID: "elsewhere"}),
	} {
		if err := h.Beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	valid := `{"id":"%s","started":"2026-12-07T00:00:00Z","sent":"2026-12-07T00:00:00Z","ttl_ns":15000000000}`
	for id, v := range map[string]string{"garbage": "not json", "liar": fmt.Sprintf(valid, "someone-else"), "forever": fmt.Sprintf(valid, "forever")} {
		ttl := time.Minute
		if id == "forever" {
			ttl = 0
		}
		if err := rdb.Set(ctx, "httpdns:node:"+id, v, ttl).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.ZAdd(ctx, "httpdns:nodes", redis.Z{Score: 1, Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got := nodeIDs(t, s); !reflect.DeepEqual(got, []string{"good"}) {
		t.Fatalf("nodes %v, want only good", got)
	}
	if got := nodeIDs(t, other); !reflect.DeepEqual(got, []string{"elsewhere"}) {
		t.Fatalf("the other fleet's nodes %v, want only elsewhere", got)
	}
}

// Versions reads the version of each document Redis holds, 0 for one it does not.
func TestVersions(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newStore(t, addr, fleet.Config{})
	ctx := ctxTimeout(t, 5*time.Second)
	for v := range int64(3) {
		if _, err := s.Put(ctx, "whitelist", []byte("a.test\n"), "admin", v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Versions(ctx, "whitelist", "accounts")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"whitelist": 3, "accounts": 0}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Versions %v, want %v", got, want)
	}
	if _, err := s.Versions(ctx, "Bad Kind"); err == nil {
		t.Fatal("Versions of a bad kind: no error")
	}
}

// Bad ids and intervals are refused when the Heartbeater is made.
func TestNewHeartbeaterRefusesBadConfig(t *testing.T) {
	t.Parallel()
	s, err := fleet.New(fleet.NewClient([]string{"127.0.0.1:1"}, ""), fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []fleet.HeartbeatConfig{{}, {ID: "a\nb"}, {ID: string(make([]byte, 256))}, {ID: "n", Interval: -time.Second}} {
		if _, err := s.NewHeartbeater(cfg); err == nil {
			t.Errorf("NewHeartbeater(%+v): no error", cfg)
		}
	}
}

// A node beats at the interval asked for, but at least every DefaultHeartbeatInterval: serve passes
// its sync interval (default 30s), and /admin/fleet must show a node's syncs within seconds.
func TestHeartbeaterInterval(t *testing.T) {
	t.Parallel()
	s, err := fleet.New(fleet.NewClient([]string{"127.0.0.1:1"}, ""), fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ asked, want time.Duration }{
		{30 * time.Second, 5 * time.Second}, {time.Second, time.Second}, {5 * time.Second, 5 * time.Second}, {0, 5 * time.Second},
	} {
		h, err := s.NewHeartbeater(fleet.HeartbeatConfig{ID: "n", Interval: tt.asked})
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Interval(); got != tt.want {
			t.Errorf("interval %v asked: %v, want %v", tt.asked, got, tt.want)
		}
	}
}

// With Redis down a heartbeat fails within its deadline and is counted as an error; Nodes fails too,
// and the node's first heartbeat after Redis is back lists it again.
func TestHeartbeatRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	s := newStore(t, srv.Addr, fleet.Config{})
	m, reg := newMetrics(t)
	h := newHeartbeater(t, s, fleet.HeartbeatConfig{ID: "n1", Metrics: m})
	srv.Stop()
	ctx := ctxTimeout(t, 500*time.Millisecond)
	start := time.Now()
	if err := h.Beat(ctx); err == nil {
		t.Fatal("Beat with Redis down: no error")
	}
	if _, err := s.Nodes(ctx); err == nil {
		t.Fatal("Nodes with Redis down: no error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("failing took %v, past the caller's deadline", d)
	}
	if v := metric(t, reg, "httpdns_fleet_heartbeats_total", "result", "error"); v != 1 {
		t.Fatalf("httpdns_fleet_heartbeats_total{result=error} %v, want 1", v)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := h.Beat(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatalf("Beat after Redis is back: %v", err)
	}
	if got := nodeIDs(t, s); !reflect.DeepEqual(got, []string{"n1"}) {
		t.Fatalf("nodes %v after Redis came back, want n1", got)
	}
}

// On a Redis Cluster of three masters heartbeats work the same: the nodes' keys lie on different masters
// and are read in one pipeline without SCAN, and Versions reads documents on several masters.
func TestHeartbeatCluster(t *testing.T) {
	t.Parallel()
	addrs := redistest.StartCluster(t)
	rdb := fleet.NewClient(addrs, "")
	t.Cleanup(func() { rdb.Close() })
	s, err := fleet.New(rdb, fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 20*time.Second)
	m, reg := newMetrics(t)
	var want []string
	for i := range 8 {
		id := fmt.Sprintf("node-%d", i)
		want = append(want, id)
		h := newHeartbeater(t, s, fleet.HeartbeatConfig{ID: id, Interval: 5 * time.Second, Metrics: m,
			Docs: func() []fleet.DocStatus { return []fleet.DocStatus{{Kind: "whitelist", Version: int64(i)}} }})
		if err := h.Beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := nodeIDs(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("nodes %v, want %v", got, want)
	}
	if v := metric(t, reg, "httpdns_fleet_nodes"); v != 8 {
		t.Fatalf("httpdns_fleet_nodes %v, want 8", v)
	}
	kinds := []string{"whitelist", "accounts", "cidrdb", "k1", "k2"}
	for i, kind := range kinds {
		if _, err := s.Put(ctx, kind, nil, "admin", 0); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := s.Put(ctx, kind, nil, "admin", 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := s.Versions(ctx, append(kinds, "absent")...)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"whitelist": 2, "accounts": 1, "cidrdb": 2, "k1": 1, "k2": 2, "absent": 0}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Versions %v, want %v", got, want)
	}
	if err := s.DeleteHeartbeat(ctx, "node-3"); err != nil {
		t.Fatal(err)
	}
	if got := nodeIDs(t, s); len(got) != 7 || slices.Contains(got, "node-3") {
		t.Fatalf("nodes %v after node-3 left", got)
	}
}

// A heartbeat key is input: anyone who reaches Redis can index ids and write heartbeats. One over
// MaxHeartbeatBytes (valid JSON, its own id) or under an id no node may have is left out, read no further
// than the bound; a node's own heartbeat stays under it however long its documents' last errors.
func TestNodesBoundHostileHeartbeats(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newStore(t, addr, fleet.Config{})
	ctx := ctxTimeout(t, 10*time.Second)
	longErr := strings.Repeat("line 7: unknown tier \"fast\"; ", 10000)
	good := newHeartbeater(t, s, fleet.HeartbeatConfig{ID: "good", Docs: func() []fleet.DocStatus {
		return []fleet.DocStatus{{Kind: "whitelist", Version: 3, LastError: longErr}}
	}})
	if err := good.Beat(ctx); err != nil {
		t.Fatalf("a heartbeat with a %d-byte last error: %v", len(longErr), err)
	}
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	valid := `{"id":%q,"listen":%q,"started":"2026-12-07T00:00:00Z","sent":"2026-12-07T00:00:00Z","ttl_ns":15000000000}`
	for id, listen := range map[string]string{
		"huge":                   strings.Repeat("x", 4<<20),
		"bad\x01id":              "127.0.0.1:1",
		strings.Repeat("n", 300): "127.0.0.1:2",
	} {
		if err := rdb.Set(ctx, "httpdns:node:"+id, fmt.Sprintf(valid, id, listen), time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.ZAdd(ctx, "httpdns:nodes", redis.Z{Score: 1, Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	nodes, err := s.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].ID != "good" {
		ids := []string{}
		for _, n := range nodes {
			ids = append(ids, fmt.Sprintf("%.20q", n.ID))
		}
		t.Fatalf("nodes %v, want only good", ids)
	}
	if e := nodes[0].Docs[0].LastError; len(e) > 1100 || !strings.HasPrefix(e, "line 7: unknown tier") {
		t.Errorf("good's last error: %d bytes, want its first KiB", len(e))
	}
	// The largest heartbeat a node writes fits: the longest id, three documents with long errors, senders
	// and addresses.
	long, who := strings.Repeat("n", 255), strings.Repeat("w", 255)+"@"+strings.Repeat("h", 255)
	largest := newHeartbeater(t, s, fleet.HeartbeatConfig{ID: long, Listen: "[" + strings.Repeat("f", 39) + "]:65535",
		AdminListen: "[" + strings.Repeat("f", 39) + "]:65535", L2: func() fleet.L2Stats { return fleet.L2Stats{Hits: 1 << 62} },
		Docs: func() []fleet.DocStatus {
			d := fleet.DocStatus{Version: 1 << 62, SHA256: strings.Repeat("0", 64), Who: who, When: time.Now(),
				LastSync: time.Now(), LastError: strings.Repeat("\"", 3000)}
			return []fleet.DocStatus{d, d, d}
		}})
	if err := largest.Beat(ctx); err != nil {
		t.Fatalf("the largest heartbeat: %v", err)
	}
	if got := nodeIDs(t, s); !slices.Contains(got, long) {
		t.Errorf("the largest heartbeat is not listed: %d nodes", len(got))
	}
	if err := s.PutHeartbeat(ctx, fleet.Heartbeat{ID: "big", TTL: time.Minute, Listen: strings.Repeat("x", fleet.MaxHeartbeatBytes)}); err == nil {
		t.Error("PutHeartbeat wrote a heartbeat over MaxHeartbeatBytes")
	}
}

// Ids indexed by hand with a score in the future (no node's: the index is scored with Redis's time) do not
// take the places of the nodes heard from: before, a thousand of them hid the whole fleet for ever.
func TestNodesIgnoreFutureIndex(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newStore(t, addr, fleet.Config{})
	ctx := ctxTimeout(t, 10*time.Second)
	if err := newHeartbeater(t, s, fleet.HeartbeatConfig{ID: "real"}).Beat(ctx); err != nil {
		t.Fatal(err)
	}
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	fake := make([]redis.Z, 1000)
	for i := range fake {
		fake[i] = redis.Z{Score: 1e15, Member: fmt.Sprintf("fake-%d", i)}
	}
	if err := rdb.ZAdd(ctx, "httpdns:nodes", fake...).Err(); err != nil {
		t.Fatal(err)
	}
	if got := nodeIDs(t, s); !reflect.DeepEqual(got, []string{"real"}) {
		t.Fatalf("nodes %v, want real", got)
	}
}
