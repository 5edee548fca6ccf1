package prober

import (
	"errors"
	"net/netip"
	"slices"

	"github.com/httpdns/httpdns/cidrdb"
)

// LearnInput is what the learner works from.
type LearnInput struct {
	// Blocks is the starting library: an old CIDRDB's records
	// (cidrdb.ReadFile) or one record per /24 of a fresh deployment
	// (SubnetRecords); required.
	Blocks []cidrdb.Record
	// Observations are probe observations of any rounds and the resolver's
	// split signals.
	Observations []Observation
	// Domains and Qtypes are the probe questions (Qtypes default to A); a
	// unit's vector holds one answer for each.
	Domains []string
	Qtypes  []uint16
	// Locator places every unit (country, city, ISP, ASN); nil uses the
	// places the records carry.
	Locator Locator
	// Hysteresis changes a block only where the two latest probe rounds cut
	// it the same way (see the package documentation). Use it whenever the
	// starting library is a learnt one.
	Hysteresis bool
	// Contiguous keeps every block one run of adjacent addresses: runs
	// apart in address space that answer alike stay separate blocks.
	Contiguous bool
	// Planned are /56s of IPv6 networks wider than /52 that were probed
	// (demand and sample, UnitsFor) besides those the observations name:
	// units of their own even when every answer came from a neighbour's
	// wide ECS scope.
	Planned []netip.Prefix
}

// Result is a learnt library.
type Result struct {
	// Records are the new library's networks, in address order.
	Records []cidrdb.Record
	// Report says what changed; its probe and file fields are left for the
	// caller.
	Report Report
}

// Learn merges and splits the starting blocks by the observations: see
// the package documentation for the algorithm.
func Learn(in LearnInput) (Result, error) {
	names, err := canonicalDomains(in.Domains)
	if err != nil {
		return Result{}, err
	}
	qs := questions{names: names, qtypes: defaultQtypes(in.Qtypes)}
	units, old, err := buildUnits(in.Blocks, in.Locator, seen56(in.Observations, in.Planned))
	if err != nil {
		return Result{}, err
	}
	ev := gatherEvidence(in.Observations, qs, unitPrefixes(units))
	cells := splitCells(units, ev)
	nq := qs.len()
	final, current, rounds := decide(in, cells, units, ev, nq)
	blocks := assemble(final, cells, units, old)
	rep := summarise(summaryInput{
		cells: cells, units: units, vec: current, nq: nq,
		before: oldPartition(cells, units), after: final, blocks: blocks,
	})
	rep.BlocksBefore = len(old) // a wide IPv6 block nobody asked inside has no cells but was there
	rep.countFamilies(old, blocks, units)
	rep.Observations = len(in.Observations)
	rep.ObservationsUsed = len(ev.facts)
	rep.Rounds = rounds
	rep.Hysteresis = in.Hysteresis
	recs := records(blocks)
	if len(recs) == 0 {
		return Result{}, errors.New("learning left no blocks")
	}
	return Result{Records: sortRecords(recs), Report: rep}, nil
}

// decide computes the new partition, the answers it was judged by, and
// the rounds used. Without hysteresis every observation counts, the
// latest winning. With it, the latest and the previous probe round are
// partitioned separately, each on its own probe observations, and only the
// groups both make are taken; with fewer than two rounds nothing changes.
func decide(in LearnInput, cells []cell, units []unit, ev *evidence, nq int) (partition, []uint32, []string) {
	part := func(vec []uint32) partition {
		p := runs(cells, units, vec, nq)
		if !in.Contiguous {
			p = gather(p, cells, units, vec, nq)
		}
		p.keepOld(cells, units)
		return p.sorted()
	}
	if !in.Hysteresis {
		vec := vectors(cells, nq, ev, func(*fact) bool { return true })
		return part(vec), vec, ev.rounds
	}
	n := len(ev.rounds)
	inRound := func(r int) func(*fact) bool {
		return func(f *fact) bool { return f.round == r } // split signals only steer probing here
	}
	latest := vectors(cells, nq, ev, inRound(n-1))
	if n < 2 {
		return oldPartition(cells, units), latest, ev.rounds
	}
	prev := vectors(cells, nq, ev, inRound(n-2))
	final := agree(part(latest), part(prev), cells, units)
	return final, latest, ev.rounds[n-2:]
}

func sortRecords(recs []cidrdb.Record) []cidrdb.Record {
	slices.SortFunc(recs, func(a, b cidrdb.Record) int { return comparePrefix(a.Network, b.Network) })
	return recs
}

// seen56 returns the IPv6 /56s that observations asked about (from a /56
// or finer source) and the planned ones, sorted: the only units of IPv6
// networks too wide to enumerate.
func seen56(obs []Observation, planned []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for i := range obs {
		if s := normalPrefix(obs[i].Subnet); s.Addr().Is6() && s.Bits() >= unitBits6 {
			out = append(out, ancestor(s, unitBits6))
		}
	}
	for _, p := range planned {
		if p = normalPrefix(p); p.Addr().Is6() && p.Bits() >= unitBits6 {
			out = append(out, ancestor(p, unitBits6))
		}
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out)
}
