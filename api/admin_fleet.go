package api

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/httpdns/httpdns/fleet"
)

// epAdminFleet is the endpoint label of GET /admin/fleet.
const epAdminFleet endpoint = "admin_fleet"

// fleetTimeout bounds the Redis reads of one GET /admin/fleet: an unreachable Redis answers 503
// FleetUnavailable within it.
const fleetTimeout = 2 * time.Second

// FleetView is what GET /admin/fleet reads from the fleet's Redis (a *fleet.Store is one): the nodes
// alive by their heartbeats, and the version Redis holds of each shared document.
type FleetView interface {
	Nodes(ctx context.Context) ([]fleet.Node, error)
	Versions(ctx context.Context, kinds ...string) (map[string]int64, error)
}

// fleetDoc is GET /admin/fleet's answer.
type fleetDoc struct {
	// Node is this node's id.
	Node string `json:"node"`
	// Newest is the version Redis holds of each document kind some node reports.
	Newest map[string]int64 `json:"newest"`
	Nodes  []fleetNodeJSON  `json:"nodes"`
}

type fleetNodeJSON struct {
	ID          string            `json:"id"`
	Self        bool              `json:"self,omitempty"`
	Listen      string            `json:"listen,omitempty"`
	AdminListen string            `json:"admin_listen,omitempty"`
	Started     time.Time         `json:"started"`
	AgeSeconds  float64           `json:"age_seconds"`
	Docs        []fleet.DocStatus `json:"docs"`
	L2          *fleetL2JSON      `json:"l2,omitempty"`
	// OutOfSync is set when a document the node serves is older than Redis's; Behind names them.
	OutOfSync bool     `json:"out_of_sync"`
	Behind    []string `json:"behind,omitempty"`
}

// fleetL2JSON is a node's L2 counts: reads by result, and hits over all reads.
type fleetL2JSON struct {
	Hits        uint64  `json:"hits"`
	Misses      uint64  `json:"misses"`
	Errors      uint64  `json:"errors"`
	Timeouts    uint64  `json:"timeouts"`
	Skipped     uint64  `json:"skipped"`
	HitRatio    float64 `json:"hit_ratio"`
	BreakerOpen bool    `json:"breaker_open"`
}

func errFleetNotConfigured() *apiError {
	return &apiError{status: http.StatusNotFound, code: CodeNotFound,
		msg: "no fleet is configured on this node: the config has no fleet section, so it stands alone"}
}

func errFleetUnreachable() *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: CodeFleetUnavailable,
		msg: "the fleet's redis is unreachable: the nodes cannot be listed; every node keeps serving its own copies"}
}

// handleFleet serves GET /admin/fleet: the nodes alive by their heartbeats (sorted by id), each with
// the versions of the shared documents it serves, its last sync, its L2 hit ratio and the age of its
// heartbeat, flagged out_of_sync when it serves an older version of a document than Redis holds.
// Without a fleet: 404 NotFound saying so; Redis unreachable: 503 FleetUnavailable.
func (a *API) handleFleet(w http.ResponseWriter, r *http.Request) {
	if a.fleet == nil {
		a.writeError(w, r, errFleetNotConfigured())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), fleetTimeout)
	defer cancel()
	nodes, err := a.fleet.Nodes(ctx)
	if err != nil {
		a.log.WarnContext(r.Context(), "admin fleet: listing the nodes", "err", err)
		a.writeError(w, r, errFleetUnreachable())
		return
	}
	kinds := map[string]bool{}
	for _, n := range nodes {
		for _, d := range n.Docs {
			kinds[d.Kind] = true
		}
	}
	newest := map[string]int64{}
	if len(kinds) > 0 {
		if newest, err = a.fleet.Versions(ctx, slices.Sorted(maps.Keys(kinds))...); err != nil {
			a.log.WarnContext(r.Context(), "admin fleet: reading the versions", "err", err)
			a.writeError(w, r, errFleetUnreachable())
			return
		}
	}
	doc := fleetDoc{Node: a.fleetNode, Newest: newest, Nodes: make([]fleetNodeJSON, 0, len(nodes))}
	for _, n := range nodes {
		doc.Nodes = append(doc.Nodes, a.fleetNodeJSON(n, newest))
	}
	slices.SortFunc(doc.Nodes, func(x, y fleetNodeJSON) int { return cmp.Compare(x.ID, y.ID) })
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, http.StatusOK, append(b, '\n'))
}

// fleetNodeJSON is one node of the answer, compared with the versions Redis holds.
func (a *API) fleetNodeJSON(n fleet.Node, newest map[string]int64) fleetNodeJSON {
	out := fleetNodeJSON{ID: n.ID, Self: n.ID == a.fleetNode, Listen: n.Listen, AdminListen: n.AdminListen,
		Started: n.Started, AgeSeconds: math.Round(n.Age.Seconds()*1000) / 1000, Docs: n.Docs}
	if out.Docs == nil {
		out.Docs = []fleet.DocStatus{}
	}
	slices.SortFunc(out.Docs, func(x, y fleet.DocStatus) int { return cmp.Compare(x.Kind, y.Kind) })
	if l := n.L2; l != nil {
		out.L2 = &fleetL2JSON{Hits: l.Hits, Misses: l.Misses, Errors: l.Errors, Timeouts: l.Timeouts,
			Skipped: l.Skipped, HitRatio: math.Round(l.HitRatio()*10000) / 10000, BreakerOpen: l.BreakerOpen}
	}
	for _, d := range out.Docs {
		if d.Version < newest[d.Kind] {
			out.Behind = append(out.Behind, d.Kind)
		}
	}
	out.OutOfSync = len(out.Behind) > 0
	return out
}
