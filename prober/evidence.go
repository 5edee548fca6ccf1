package prober

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// fact is one relevant observation, reduced to what the learner needs.
type fact struct {
	eff   netip.Prefix // the prefix its answer holds for
	q     question
	sig   uint32 // interned signature, never 0
	time  time.Time
	split bool // a resolver split signal rather than a probe
	round int  // index into evidence.rounds; -1 for split signals
}

// evidence is the observations the learner uses, grouped by probe round.
type evidence struct {
	facts  []fact
	rounds []string // probe rounds, oldest first (by their latest observation)
	sigs   map[string]uint32
}

// gatherEvidence keeps the observations that ask a listed question about a
// prefix overlapping some unit, with their effective prefixes.
func gatherEvidence(obs []Observation, qs questions, units []netip.Prefix) *evidence {
	us := newUnitSet(units)
	ev := &evidence{sigs: map[string]uint32{}}
	roundIdx := map[string]int{}
	roundLast := map[string]time.Time{}
	for i := range obs {
		o := &obs[i]
		q, ok := qs.index(o.Domain, o.Qtype)
		if !ok || (o.Subnet.Addr().Is6() && o.Subnet.Bits() < unitBits6) {
			// An IPv6 source wider than the resolver's /56 proves nothing
			// about the /56s inside it: a CDN that echoes the source (scope ==
			// source) answers it for one address of its own choosing.
			continue
		}
		eff := effective(o, us.capFor(o.Subnet))
		if !overlapsAny(units, eff) {
			continue
		}
		f := fact{eff: eff, q: q, sig: ev.intern(o.signature()), time: o.Time, split: o.Source == SourceSplit, round: -1}
		if !f.split {
			r, ok := roundIdx[o.Round]
			if !ok {
				r = len(ev.rounds)
				roundIdx[o.Round] = r
				ev.rounds = append(ev.rounds, o.Round)
			}
			f.round = r
			if o.Time.After(roundLast[o.Round]) {
				roundLast[o.Round] = o.Time
			}
		}
		ev.facts = append(ev.facts, f)
	}
	ev.sortRounds(roundLast)
	return ev
}

func (ev *evidence) intern(sig string) uint32 {
	id, ok := ev.sigs[sig]
	if !ok {
		id = uint32(len(ev.sigs) + 1)
		ev.sigs[sig] = id
	}
	return id
}

// sortRounds orders rounds by their latest observation and renumbers the
// facts to match.
func (ev *evidence) sortRounds(last map[string]time.Time) {
	order := make([]int, len(ev.rounds))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(last[ev.rounds[a]].Compare(last[ev.rounds[b]]), cmp.Compare(ev.rounds[a], ev.rounds[b]))
	})
	renum := make([]int, len(order))
	sorted := make([]string, len(order))
	for newIdx, old := range order {
		renum[old] = newIdx
		sorted[newIdx] = ev.rounds[old]
	}
	ev.rounds = sorted
	for i := range ev.facts {
		if ev.facts[i].round >= 0 {
			ev.facts[i].round = renum[ev.facts[i].round]
		}
	}
}

// splitCells cuts every unit into cells as fine as the finest answer seen
// inside it (bounded by the unit's sub-probe limit); a unit nothing was
// seen inside of is one cell.
func splitCells(units []unit, ev *evidence) []cell {
	finest := make(map[netip.Prefix]int, len(units))
	us := newUnitSet(unitPrefixes(units))
	for _, f := range ev.facts {
		if u, ok := us.holding(f.eff); ok && f.eff.Bits() > u.Bits() {
			finest[u] = max(finest[u], f.eff.Bits())
		}
	}
	var cells []cell
	for i, u := range units {
		bits := u.prefix.Bits()
		if b, ok := finest[u.prefix]; ok {
			bits = min(max(b, bits), subCap(u.prefix))
		}
		for _, p := range pieces(u.prefix, bits) {
			cells = append(cells, cell{prefix: p, unit: i})
		}
	}
	return cells
}

// vectors returns, for every cell, the signature of every question (0
// where nothing answers it), from the facts keep selects. A cell takes the
// latest answer whose prefix holds it, so a newer round that finds a unit
// uniform overrides an older one that cut it; on a tie the most specific
// prefix wins, then a probe over a split signal.
func vectors(cells []cell, nq int, ev *evidence, keep func(*fact) bool) []uint32 {
	best := map[netip.Prefix][]*fact{}
	for i := range ev.facts {
		f := &ev.facts[i]
		if !keep(f) {
			continue
		}
		slot := best[f.eff]
		if slot == nil {
			slot = make([]*fact, nq)
			best[f.eff] = slot
		}
		if cur := slot[f.q]; cur == nil || beats(f, cur) {
			slot[f.q] = f
		}
	}
	vec := make([]uint32, len(cells)*nq)
	chosen := make([]*fact, nq)
	for c, cl := range cells {
		clear(chosen)
		for b := cl.prefix.Bits(); b >= 0; b-- { // most specific first
			for q, f := range best[ancestor(cl.prefix, b)] {
				if f != nil && (chosen[q] == nil || f.time.After(chosen[q].time)) {
					chosen[q] = f
				}
			}
		}
		for q, f := range chosen {
			if f != nil {
				vec[c*nq+q] = f.sig
			}
		}
	}
	return vec
}

// beats reports whether f should be used rather than cur for one prefix:
// the later, or on a tie the probe.
func beats(f, cur *fact) bool {
	if !f.time.Equal(cur.time) {
		return f.time.After(cur.time)
	}
	return !f.split && cur.split
}

// complete reports whether row answers every question.
func complete(row []uint32) bool {
	return !slices.Contains(row, 0)
}
