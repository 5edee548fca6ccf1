package console

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
)

// blockCache holds the records of the CIDRDB serving now, read once a database is swapped in, and
// the diff from the one serving before it in this process.
type blockCache struct {
	mu      sync.Mutex
	db      *cidrdb.DB // the databases the records were read for
	recs    []cidrdb.Record
	err     error
	diff    *cidrdb.DiffReport
	since   time.Time // when the serving CIDRDB was first seen, for the diff
	summary cidrdb.Summary
	pairs   []cityISP
}

// cityISP counts the blocks of one city and ISP.
type cityISP struct {
	Country string `json:"country"`
	City    string `json:"city"`
	ISP     string `json:"isp"`
	Blocks  int    `json:"blocks"`
}

// current returns the serving CIDRDB's records, reading the file when db is not the one read last.
func (b *blockCache) current(db *cidrdb.DB, path string, now time.Time) (*blockCache, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if db != b.db {
		recs, err := cidrdb.ReadFile(path)
		if err == nil && b.recs != nil {
			d := cidrdb.Diff(b.recs, recs)
			b.diff = &d
		}
		if err == nil {
			b.recs, b.summary, b.pairs = recs, cidrdb.Summarize(recs), countPairs(recs)
		}
		b.db, b.err, b.since = db, err, now
	}
	snap := &blockCache{recs: b.recs, err: b.err, diff: b.diff, since: b.since, summary: b.summary, pairs: b.pairs}
	return snap, b.err
}

// countPairs counts distinct blocks by (country, city, ISP), most blocks first.
func countPairs(recs []cidrdb.Record) []cityISP {
	seen := map[cityISP]map[uint32]bool{}
	for _, r := range recs {
		k := cityISP{Country: r.Country, City: r.City, ISP: r.ISP}
		if seen[k] == nil {
			seen[k] = map[uint32]bool{}
		}
		seen[k][r.BlockID] = true
	}
	out := make([]cityISP, 0, len(seen))
	for k, ids := range seen {
		k.Blocks = len(ids)
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Blocks != out[j].Blocks {
			return out[i].Blocks > out[j].Blocks
		}
		return out[i].Country+out[i].City+out[i].ISP < out[j].Country+out[j].City+out[j].ISP
	})
	return out
}

// cidrdbJSON is GET /console/api/cidrdb's answer.
type cidrdbJSON struct {
	Configured  bool               `json:"configured"`
	Path        string             `json:"path,omitempty"`
	Error       string             `json:"error,omitempty"`
	Metadata    *cidrdb.Metadata   `json:"metadata,omitempty"`
	Summary     *cidrdb.Summary    `json:"summary,omitempty"`
	CityISP     []cityISP          `json:"city_isp,omitempty"`
	Busiest     []string           `json:"busiest,omitempty"` // the /8s holding most IPv4 networks, for the map's zoom
	Diff        *cidrdb.DiffReport `json:"diff"`
	DiffSince   *time.Time         `json:"diff_since,omitempty"`
	ProbeReport json.RawMessage    `json:"probe_report"`
	ProbePath   string             `json:"probe_report_path,omitempty"`
}

// maxRows bounds the tables the page gets.
const maxRows = 200

func (c *Console) handleCIDRDB(w http.ResponseWriter, _ *http.Request) {
	out := cidrdbJSON{Configured: c.cfg.CIDRDB != nil && c.cfg.CIDRDBPath != "", Path: c.cfg.CIDRDBPath,
		ProbePath: c.cfg.ProbeReport, ProbeReport: c.probeReport()}
	if !out.Configured {
		writeJSON(w, out)
		return
	}
	db := c.cfg.CIDRDB()
	md := db.Metadata()
	out.Metadata = &md
	snap, err := c.blocks.current(db, c.cfg.CIDRDBPath, c.cfg.Now())
	if err != nil {
		out.Error = "reading the CIDRDB's blocks: " + err.Error()
		writeJSON(w, out)
		return
	}
	s := snap.summary
	s.Cities, s.ISPs = clip(s.Cities), clip(s.ISPs)
	out.Summary, out.CityISP, out.Busiest = &s, clip(snap.pairs), busiest(snap.recs, 4)
	if snap.diff != nil {
		out.Diff, out.DiffSince = snap.diff, &snap.since
	}
	writeJSON(w, out)
}

func clip[T any](s []T) []T {
	if len(s) > maxRows {
		return s[:maxRows]
	}
	return s
}

// probeReport is the probe's JSON report if the file exists and holds JSON; nil otherwise.
func (c *Console) probeReport() json.RawMessage {
	if c.cfg.ProbeReport == "" {
		return nil
	}
	b, err := os.ReadFile(c.cfg.ProbeReport)
	if err != nil || !json.Valid(b) {
		return nil
	}
	return b
}

// handleCIDRDBLookup serves GET /console/api/cidrdb/lookup?ip=: the address's block and location.
func (c *Console) handleCIDRDBLookup(w http.ResponseWriter, r *http.Request) {
	if c.cfg.CIDRDB == nil {
		writeError(w, http.StatusNotFound, "NotFound", "this node has no databases to look in")
		return
	}
	addr, err := parseAddr(r.URL.Query().Get("ip"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidIP", "ip: "+err.Error())
		return
	}
	loc := c.cfg.CIDRDB().Locate(addr)
	writeJSON(w, struct {
		IP string `json:"ip"`
		locationJSON
	}{addr.String(), locationOf(loc)})
}

// busiest returns the areas the map zooms to: the narrowest prefix (at most a /16) holding every
// IPv4 network of the /8 with the most of them, when narrower than that /8, then the n /8s holding
// the most IPv4 networks, most first.
func busiest(recs []cidrdb.Record, n int) []string {
	out := slash8s(recs, n)
	if len(out) == 0 {
		return out
	}
	top := netip.MustParsePrefix(out[0])
	lo, hi := uint32(1<<32-1), uint32(0)
	for _, r := range recs {
		if p, ok := ipv4(r.Network); ok && top.Contains(p.Addr()) {
			lo = min(lo, u32(p.Addr()))
			hi = max(hi, u32(p.Addr())|(1<<(32-p.Bits())-1))
		}
	}
	bits := 8
	for bits < 16 && lo>>(31-bits) == hi>>(31-bits) {
		bits++
	}
	if bits > 8 {
		span := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(lo >> 24), byte(lo >> 16), byte(lo >> 8), byte(lo)}), bits).Masked()
		out = append([]string{span.String()}, out...)
	}
	return out
}

// slash8s returns the n /8s holding the most IPv4 networks, most first.
func slash8s(recs []cidrdb.Record, n int) []string {
	var counts [256]int
	for _, r := range recs {
		if p, ok := ipv4(r.Network); ok {
			counts[p.Addr().As4()[0]]++
		}
	}
	idx := make([]int, 0, 256)
	for i, c := range counts {
		if c > 0 {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return counts[idx[a]] > counts[idx[b]] })
	out := []string{}
	for _, i := range idx[:min(n, len(idx))] {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(i)}), 8).String())
	}
	return out
}

// ipv4 returns p as an IPv4 prefix (IPv4-mapped ones unmapped); false for IPv6.
func ipv4(p netip.Prefix) (netip.Prefix, bool) {
	a := p.Addr()
	switch {
	case a.Is4():
		return p.Masked(), true
	case a.Is4In6() && p.Bits() >= 96:
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked(), true
	}
	return netip.Prefix{}, false
}
