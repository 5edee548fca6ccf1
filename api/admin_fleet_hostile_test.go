package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/redistest"
)

// A heartbeat in Redis is input: one written by hand with documents of kinds no node has (not even a valid
// Redis key part), or hundreds of them, leaves the fleet listed, those documents out. Before, GET
// /admin/fleet asked Redis for the version of every kind any heartbeat named, refused the bad kind, and
// answered 503 FleetUnavailable: one hostile heartbeat hid the whole fleet.
func TestAdminFleetHostileHeartbeat(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newFleetStore(t, addr)
	beat(t, s, fleet.HeartbeatConfig{ID: "n1", Docs: func() []fleet.DocStatus {
		return []fleet.DocStatus{{Kind: "whitelist", Version: 1}}
	}})
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	docs := []string{`{"kind":"BAD KIND","version":9}`, `{"kind":"","version":9}`}
	for i := range 300 { // within MaxHeartbeatBytes
		docs = append(docs, fmt.Sprintf(`{"kind":"k%d","version":1}`, i))
	}
	hb := `{"id":"evil","started":"2026-12-07T00:00:00Z","sent":"2026-12-07T00:00:00Z","ttl_ns":15000000000,"docs":[` +
		strings.Join(docs, ",") + `]}`
	if err := rdb.Set(t.Context(), "httpdns:node:evil", hb, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(t.Context(), "httpdns:nodes", redis.Z{Score: 1, Member: "evil"}).Err(); err != nil {
		t.Fatal(err)
	}
	ta := newTestAPI(t, Config{AdminToken: token, Fleet: s, FleetNode: "n1"})
	w := get(ta.Admin(), "/admin/fleet", bearer("Bearer "+token))
	var got fleetAnswer
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &got) != nil {
		t.Fatalf("status %d, body %.300s; want 200", w.Code, w.Body)
	}
	if len(got.Nodes) != 2 || got.Nodes[1].ID != "n1" || len(got.Nodes[1].Docs) != 1 {
		t.Fatalf("nodes %+v, want evil and n1 with its whitelist", got.Nodes)
	}
	if d := got.Nodes[0].Docs; len(d) > fleet.MaxHeartbeatDocs {
		t.Errorf("evil listed with %d documents, want at most %d", len(d), fleet.MaxHeartbeatDocs)
	}
	for _, d := range got.Nodes[0].Docs {
		if d.Kind == "BAD KIND" || d.Kind == "" {
			t.Errorf("evil listed with a document of kind %q", d.Kind)
		}
	}
}
