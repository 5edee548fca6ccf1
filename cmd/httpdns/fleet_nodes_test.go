package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/redistest"
)

// fleetNodesAnswer is what the test reads of GET /admin/fleet.
type fleetNodesAnswer struct {
	Node   string           `json:"node"`
	Newest map[string]int64 `json:"newest"`
	Nodes  []struct {
		ID          string  `json:"id"`
		Self        bool    `json:"self"`
		Listen      string  `json:"listen"`
		AdminListen string  `json:"admin_listen"`
		AgeSeconds  float64 `json:"age_seconds"`
		Docs        []struct {
			Kind     string    `json:"kind"`
			Version  int64     `json:"version"`
			LastSync time.Time `json:"last_sync"`
		} `json:"docs"`
		L2 *struct {
			Hits     uint64  `json:"hits"`
			Misses   uint64  `json:"misses"`
			HitRatio float64 `json:"hit_ratio"`
		} `json:"l2"`
		OutOfSync bool `json:"out_of_sync"`
	} `json:"nodes"`
}

// fleetNodes GETs /admin/fleet from a node and decodes it; it fails the test unless the answer is 200.
func fleetNodes(t *testing.T, s *testService) fleetNodesAnswer {
	t.Helper()
	code, body := adminText(t, s.admin+"/admin/fleet")
	if code != http.StatusOK {
		t.Fatalf("GET /admin/fleet: %d %s", code, body)
	}
	var a fleetNodesAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("GET /admin/fleet: %v in %s", err, body)
	}
	return a
}

// metricValue reads one sample of a node's /metrics, series written as in the exposition format
// (name{label="value"}); -1 when it is absent.
func metricValue(t *testing.T, s *testService, series string) float64 {
	t.Helper()
	_, m := adminText(t, s.admin+"/metrics")
	for line := range strings.Lines(m) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err == nil {
				return f
			}
		}
	}
	return -1
}

// versions is each node's whitelist version in a, by id ("-" for a node reporting none).
func versions(a fleetNodesAnswer) string {
	var out []string
	for _, n := range a.Nodes {
		v := "-"
		for _, d := range n.Docs {
			if d.Kind == whitelistKind {
				v = fmt.Sprint(d.Version)
			}
		}
		out = append(out, n.ID+"="+v)
	}
	return strings.Join(out, " ")
}

// Two serve nodes of one fleet see each other in GET /admin/fleet with their addresses; an upload on
// one shows as the same whitelist version on both within seconds (heartbeats every sync_interval of
// 1s); a node that stops leaves the list at once; with Redis down the endpoint answers 503.
func TestFleetNodesEndToEnd(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	w, servers := startWorld(t, 1)
	var nodes []*testService
	for _, id := range []string{"n1", "n2"} {
		// l2_timeout well above its 5ms default: on a loaded test machine a read past it is a timeout, not a hit.
		extra := fmt.Sprintf("fleet: {redis: [%q], node_id: %s, sync_interval: 1s, l2_timeout: 500ms}\n", srv.Addr, id)
		nodes = append(nodes, startService(t, w, writeTestConfig(t, w, t.TempDir(), addrsOf(servers), extra)))
	}
	n1, n2 := nodes[0], nodes[1]
	var a fleetNodesAnswer
	waitUntil(t, 5*time.Second, "n1 does not list both nodes", func() bool {
		a = fleetNodes(t, n1)
		return len(a.Nodes) == 2
	})
	if a.Node != "n1" || a.Nodes[0].ID != "n1" || !a.Nodes[0].Self || a.Nodes[1].ID != "n2" || a.Nodes[1].Self {
		t.Fatalf("GET /admin/fleet on n1: %+v", a)
	}
	for i, s := range nodes {
		if got := "http://" + a.Nodes[i].Listen; got != s.public || "http://"+a.Nodes[i].AdminListen != s.admin {
			t.Errorf("%s listens on %s and %s, its heartbeat says %s and %s", a.Nodes[i].ID, s.public, s.admin,
				a.Nodes[i].Listen, a.Nodes[i].AdminListen)
		}
		if a.Nodes[i].L2 == nil {
			t.Errorf("%s's heartbeat has no L2 counts; fleet.l2_cache is on by default", a.Nodes[i].ID)
		}
		if a.Nodes[i].AgeSeconds > 3 {
			t.Errorf("%s's heartbeat is %vs old with 1s heartbeats", a.Nodes[i].ID, a.Nodes[i].AgeSeconds)
		}
	}

	// n2's miss for what n1 fetched is an L2 hit, and its next heartbeat says so.
	url := "/d?host=img.cdn-a.test&ip=" + w.ClientIn(w.Subnets()[3], 7).String()
	if code, body := get(t, n1.public+url); code != http.StatusOK {
		t.Fatalf("/d on n1: %d %v", code, body)
	}
	waitUntil(t, 5*time.Second, "n1 wrote nothing to the shared cache", func() bool {
		return metricValue(t, n1, `httpdns_l2_writes_total{result="ok"}`) >= 1
	})
	if code, body := get(t, n2.public+url); code != http.StatusOK {
		t.Fatalf("/d on n2: %d %v", code, body)
	}
	waitUntil(t, 5*time.Second, "n2's L2 hit is not in /admin/fleet", func() bool {
		a = fleetNodes(t, n1)
		return len(a.Nodes) == 2 && a.Nodes[1].L2 != nil && a.Nodes[1].L2.Hits == 1 && a.Nodes[1].L2.HitRatio == 1
	})

	if code, body := put(t, n1.admin+"/admin/domains", "secret", "img.cdn-a.test subnet\n"); code != http.StatusOK {
		t.Fatalf("upload on n1: %d %v", code, body)
	}
	waitUntil(t, 5*time.Second, "the upload's version is not on both nodes", func() bool {
		a = fleetNodes(t, n2)
		return versions(a) == "n1=1 n2=1" && a.Newest[whitelistKind] == 1 && !a.Nodes[0].OutOfSync && !a.Nodes[1].OutOfSync
	})
	if a.Node != "n2" || a.Nodes[1].Docs[0].LastSync.IsZero() {
		t.Fatalf("GET /admin/fleet on n2: %+v", a)
	}
	waitUntil(t, 5*time.Second, "httpdns_fleet_nodes is not 2 on n1", func() bool {
		return metricValue(t, n1, "httpdns_fleet_nodes") == 2
	})
	if v := metricValue(t, n1, `httpdns_fleet_heartbeats_total{result="ok"}`); v < 1 {
		t.Errorf("httpdns_fleet_heartbeats_total{result=ok} %v on n1", v)
	}

	n2.shutdown(t)
	if got := versions(fleetNodes(t, n1)); got != "n1=1" {
		t.Fatalf("nodes %q right after n2 stopped, want n1 alone", got)
	}

	srv.Stop()
	code, body := adminText(t, n1.admin+"/admin/fleet")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"FleetUnavailable"`) {
		t.Fatalf("GET /admin/fleet with Redis down: %d %s, want 503 FleetUnavailable", code, body)
	}
	waitUntil(t, 5*time.Second, "no failed heartbeat counted with Redis down", func() bool {
		return metricValue(t, n1, `httpdns_fleet_heartbeats_total{result="error"}`) >= 1
	})
}

// A node without a fleet answers GET /admin/fleet with 404 saying so, and still exports the heartbeat
// series, at zero.
func TestFleetNodesWithoutFleet(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	s := startService(t, w, writeTestConfig(t, w, t.TempDir(), addrsOf(servers), ""))
	code, body := adminText(t, s.admin+"/admin/fleet")
	if code != http.StatusNotFound || !strings.Contains(body, "no fleet is configured") {
		t.Fatalf("GET /admin/fleet without a fleet: %d %s", code, body)
	}
	for _, m := range []string{"httpdns_fleet_nodes", `httpdns_fleet_heartbeats_total{result="ok"}`} {
		if v := metricValue(t, s, m); v != 0 {
			t.Errorf("%s = %v without a fleet, want 0", m, v)
		}
	}
}

func TestAdvertised(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no hostname:", err)
	}
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:8053", "127.0.0.1:8053"},
		{"[::1]:80", "[::1]:80"},
		{"0.0.0.0:8053", net.JoinHostPort(host, "8053")},
		{"[::]:8053", net.JoinHostPort(host, "8053")},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := advertised(addr); got != tt.want {
			t.Errorf("advertised(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// A node's id is fleet.node_id, else the hostname and the listen port (the hostname alone when
// listen has no port).
func TestNodeID(t *testing.T) {
	t.Parallel()
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no hostname:", err)
	}
	for _, tt := range []struct{ listen, id, want string }{
		{":8053", "edge-1", "edge-1"},
		{":8053", "", net.JoinHostPort(host, "8053")},
		{"127.0.0.1:80", "", net.JoinHostPort(host, "80")},
		{"not-an-address", "", host},
	} {
		cfg := &Config{Listen: tt.listen, Fleet: FleetConfig{NodeID: tt.id}}
		if got := nodeID(cfg); got != tt.want {
			t.Errorf("nodeID(listen %q, node_id %q) = %q, want %q", tt.listen, tt.id, got, tt.want)
		}
	}
}
