package api

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/redistest"
)

// fleetAnswer is GET /admin/fleet's JSON as a client reads it.
type fleetAnswer struct {
	Node   string           `json:"node"`
	Newest map[string]int64 `json:"newest"`
	Nodes  []struct {
		ID          string            `json:"id"`
		Self        bool              `json:"self"`
		Listen      string            `json:"listen"`
		AdminListen string            `json:"admin_listen"`
		Started     time.Time         `json:"started"`
		AgeSeconds  float64           `json:"age_seconds"`
		Docs        []fleet.DocStatus `json:"docs"`
		L2          *struct {
			Hits        uint64  `json:"hits"`
			Misses      uint64  `json:"misses"`
			Errors      uint64  `json:"errors"`
			Timeouts    uint64  `json:"timeouts"`
			Skipped     uint64  `json:"skipped"`
			HitRatio    float64 `json:"hit_ratio"`
			BreakerOpen bool    `json:"breaker_open"`
		} `json:"l2"`
		OutOfSync bool     `json:"out_of_sync"`
		Behind    []string `json:"behind"`
	} `json:"nodes"`
}

// newFleetStore is a fleet store on a real redis-server of the test's own.
func newFleetStore(t *testing.T, addr string) *fleet.Store {
	t.Helper()
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	s, err := fleet.New(rdb, fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// beat publishes one heartbeat for id.
func beat(t *testing.T, s *fleet.Store, cfg fleet.HeartbeatConfig) {
	t.Helper()
	h, err := s.NewHeartbeater(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Beat(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// GET /admin/fleet lists the nodes by id with their documents, L2 hit ratio and age, and flags the node
// serving an older whitelist than Redis holds.
func TestAdminFleetListsNodes(t *testing.T) {
	t.Parallel()
	s := newFleetStore(t, redistest.Start(t))
	ctx := t.Context()
	for v := range int64(3) {
		if _, err := s.Put(ctx, "whitelist", []byte("a.test subnet\n"), "admin@n1", v); err != nil {
			t.Fatal(err)
		}
	}
	synced := time.Date(2026, 12, 7, 0, 30, 0, 0, time.UTC)
	docs := func(v int64) func() []fleet.DocStatus {
		return func() []fleet.DocStatus {
			return []fleet.DocStatus{{Kind: "whitelist", Version: v, LastSync: synced}}
		}
	}
	beat(t, s, fleet.HeartbeatConfig{ID: "n3", Listen: "127.0.0.1:3", Docs: docs(3),
		L2: func() fleet.L2Stats { return fleet.L2Stats{Hits: 2, Misses: 1, Written: 1} }})
	beat(t, s, fleet.HeartbeatConfig{ID: "n1", Listen: "127.0.0.1:1", AdminListen: "127.0.0.1:11", Docs: docs(3)})
	beat(t, s, fleet.HeartbeatConfig{ID: "n2", Listen: "127.0.0.1:2", Docs: docs(2)})
	ta := newTestAPI(t, Config{AdminToken: token, Fleet: s, FleetNode: "n1"})

	w := get(ta.Admin(), "/admin/fleet", bearer("Bearer "+token))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q; body %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	var got fleetAnswer
	decodeStrict(t, w.Body.Bytes(), &got)
	if got.Node != "n1" || !reflect.DeepEqual(got.Newest, map[string]int64{"whitelist": 3}) || len(got.Nodes) != 3 {
		t.Fatalf("answer %s: want node n1, newest whitelist 3, three nodes", w.Body)
	}
	for i, want := range []struct {
		id, listen string
		self, out  bool
		version    int64
	}{{"n1", "127.0.0.1:1", true, false, 3}, {"n2", "127.0.0.1:2", false, true, 2}, {"n3", "127.0.0.1:3", false, false, 3}} {
		n := got.Nodes[i]
		if n.ID != want.id || n.Listen != want.listen || n.Self != want.self || n.OutOfSync != want.out ||
			len(n.Docs) != 1 || n.Docs[0].Kind != "whitelist" || n.Docs[0].Version != want.version ||
			!n.Docs[0].LastSync.Equal(synced) {
			t.Errorf("node %d: %+v, want %+v", i, n, want)
		}
		if n.AgeSeconds < 0 || n.AgeSeconds > 5 || n.Started.IsZero() {
			t.Errorf("node %s: age %vs, started %v", n.ID, n.AgeSeconds, n.Started)
		}
	}
	if b := got.Nodes[1].Behind; !reflect.DeepEqual(b, []string{"whitelist"}) {
		t.Errorf("n2 behind %v, want [whitelist]", b)
	}
	if l2 := got.Nodes[2].L2; l2 == nil || l2.Hits != 2 || l2.Misses != 1 || l2.HitRatio != 0.6667 {
		t.Errorf("n3's L2 %+v, want 2 hits, 1 miss, ratio 0.6667", l2)
	}
	if got.Nodes[0].L2 != nil || got.Nodes[0].AdminListen != "127.0.0.1:11" {
		t.Errorf("n1 %+v: want no L2 and its admin address", got.Nodes[0])
	}
}

// An empty fleet lists no nodes, as an empty array.
func TestAdminFleetEmpty(t *testing.T) {
	t.Parallel()
	s := newFleetStore(t, redistest.Start(t))
	ta := newTestAPI(t, Config{AdminToken: token, Fleet: s, FleetNode: "n1"})
	w := get(ta.Admin(), "/admin/fleet", bearer("Bearer "+token))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"nodes": []`) {
		t.Fatalf("status %d, body %s; want 200 with an empty node list", w.Code, w.Body)
	}
}

// Without a fleet the endpoint says so with 404 NotFound; it needs the token like every /admin/*, and
// takes only GET and HEAD.
func TestAdminFleetErrors(t *testing.T) {
	t.Parallel()
	alone := newTestAPI(t, Config{AdminToken: token})
	e := wantError(t, get(alone.Admin(), "/admin/fleet", bearer("Bearer "+token)), http.StatusNotFound, CodeNotFound)
	if !strings.Contains(e.Message, "no fleet is configured") {
		t.Errorf("message %q: want it to say no fleet is configured", e.Message)
	}
	wantError(t, get(alone.Admin(), "/admin/fleet"), http.StatusUnauthorized, CodeUnauthorized)
	wantError(t, do(alone.Admin(), http.MethodPost, "/admin/fleet", nil, bearer("Bearer "+token)),
		http.StatusMethodNotAllowed, CodeMethodNotAllowed)
}

// Redis down: 503 FleetUnavailable within the endpoint's bound, never a 500.
func TestAdminFleetRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	s := newFleetStore(t, srv.Addr)
	beat(t, s, fleet.HeartbeatConfig{ID: "n1"})
	srv.Stop()
	ta := newTestAPI(t, Config{AdminToken: token, Fleet: s, FleetNode: "n1"})
	start := time.Now()
	w := get(ta.Admin(), "/admin/fleet", bearer("Bearer "+token))
	wantError(t, w, http.StatusServiceUnavailable, CodeFleetUnavailable)
	if d := time.Since(start); d > fleetTimeout+time.Second {
		t.Errorf("answered after %v, past the %v bound", d, fleetTimeout)
	}
	if !strings.Contains(ta.log.String(), "admin fleet: listing the nodes") {
		t.Errorf("log %q: want the Redis error logged", ta.log.String())
	}
}
