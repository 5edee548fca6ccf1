package api

import (
	"encoding/json"
	"math"
	"net/http"
	"net/netip"
	"time"

	"github.com/httpdns/httpdns/resolver"
)

// epAdminAccuracy is the endpoint label of GET /admin/accuracy.
const epAdminAccuracy endpoint = "admin_accuracy"

// AccuracyReporter is what GET /admin/accuracy reads: the accuracy checks' counts and latest
// mismatches. The api finds it on Config.Resolver (*resolver.Resolver is one).
type AccuracyReporter interface {
	Accuracy() resolver.AccuracyReport
}

// accuracyDoc is GET /admin/accuracy's answer.
type accuracyDoc struct {
	// Enabled is false when the checks are off (accuracy.sample 0); the counts are then zero.
	Enabled      bool    `json:"enabled"`
	Sample       int     `json:"sample"`
	MaxPerSecond float64 `json:"max_per_second"`
	// Checks are the checks by tier and result (match, mismatch, unknown).
	Checks map[string]map[string]uint64 `json:"checks"`
	// MismatchRatio is, per tier, mismatches over the checks that could be judged (match +
	// mismatch); 0 with none.
	MismatchRatio map[string]float64 `json:"mismatch_ratio"`
	// Skipped are the sampled answers not checked, by reason (rate, budget, busy, no_ecs).
	Skipped map[string]uint64 `json:"skipped"`
	// Mismatches are the latest mismatches, newest first.
	Mismatches []mismatchJSON `json:"mismatches"`
}

type mismatchJSON struct {
	Time   time.Time    `json:"time"`
	Name   string       `json:"name"`
	Qtype  uint16       `json:"qtype"`
	Client netip.Prefix `json:"client"` // the client's /24 (/56)
	Served []netip.Addr `json:"served"`
	Fresh  []netip.Addr `json:"fresh"`
	Tier   string       `json:"tier"`
	Key    string       `json:"key"`   // the served key's scope: a block, "country/city/ISP" or ""
	Scope  int          `json:"scope"` // the fresh reply's ECS scope length, -1: none
	Source string       `json:"source"`
}

// handleAccuracy serves GET /admin/accuracy: what the accuracy checks found since the start.
func (a *API) handleAccuracy(w http.ResponseWriter, r *http.Request) {
	ar, ok := a.resolver.(AccuracyReporter)
	if !ok {
		a.writeError(w, r, &apiError{status: http.StatusNotFound, code: CodeNotFound,
			msg: "this resolver makes no accuracy checks"})
		return
	}
	rep := ar.Accuracy()
	doc := accuracyDoc{Enabled: rep.Sample > 0, Sample: rep.Sample, MaxPerSecond: rep.MaxPerSecond,
		Checks: rep.Counts, MismatchRatio: map[string]float64{}, Skipped: rep.Skipped,
		Mismatches: make([]mismatchJSON, 0, len(rep.Mismatches))}
	for tier, c := range rep.Counts {
		ratio := 0.0
		if n := c[resolver.CheckMatch] + c[resolver.CheckMismatch]; n > 0 {
			ratio = math.Round(float64(c[resolver.CheckMismatch])/float64(n)*1e6) / 1e6
		}
		doc.MismatchRatio[tier] = ratio
	}
	for _, m := range rep.Mismatches {
		doc.Mismatches = append(doc.Mismatches, mismatchJSON{Time: m.Time.UTC(), Name: m.Name, Qtype: m.Qtype,
			Client: m.Client, Served: orEmpty(m.Served), Fresh: orEmpty(m.Fresh), Tier: m.Tier, Key: m.Key,
			Scope: m.Scope, Source: m.Source})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, http.StatusOK, append(b, '\n'))
}

// orEmpty makes a nil list an empty JSON array rather than null.
func orEmpty(ips []netip.Addr) []netip.Addr {
	if ips == nil {
		return []netip.Addr{}
	}
	return ips
}
