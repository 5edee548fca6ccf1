package prober

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/httpdns/httpdns/cidrdb"
)

// Report says what a run learnt and how much better the new library is.
type Report struct {
	// BlocksBefore and BlocksAfter count the blocks of the old and the new library.
	BlocksBefore int `json:"blocks_before"`
	BlocksAfter  int `json:"blocks_after"`
	// Merged counts new blocks made of parts of two or more old blocks.
	Merged int `json:"merged"`
	// Split counts old blocks whose parts went to two or more new blocks.
	Split int `json:"split"`
	// Unchanged counts new blocks that are exactly an old block.
	Unchanged int `json:"unchanged"`
	// Subnets counts the units (/24s, /56s) of the library.
	Subnets int `json:"subnets"`
	// SubnetsProbed counts units with at least one answer.
	SubnetsProbed int `json:"subnets_probed"`
	// SubnetsCovered counts units with an answer to every probe question,
	// the only ones the learner may move.
	SubnetsCovered int `json:"subnets_covered"`
	// Observations counts the observations read and made.
	Observations int `json:"observations"`
	// ObservationsUsed counts those about a probe question and a unit.
	ObservationsUsed int `json:"observations_used"`
	// MalformedLines counts observation lines skipped as malformed.
	MalformedLines int `json:"malformed_lines"`
	// Rounds are the probe rounds learnt from, oldest first.
	Rounds []string `json:"rounds"`
	// Hysteresis reports whether blocks changed only where two rounds agree.
	Hysteresis bool `json:"hysteresis"`
	// WrongOld and WrongNew say how often each library would have answered
	// a probed unit wrongly: its block's answer (the one most of the block's
	// parts got) differs from the unit's own.
	WrongOld Wrong `json:"wrong_old"`
	WrongNew Wrong `json:"wrong_new"`
	// Probe is what the probing did; nil when nothing was probed.
	Probe *Stats `json:"probe,omitempty"`
	// IPv4 and IPv6 split the blocks and units by address family.
	IPv4 FamilyReport `json:"ipv4"`
	IPv6 FamilyReport `json:"ipv6"`
}

// FamilyReport is one address family's share of a Report.
type FamilyReport struct {
	// BlocksBefore and BlocksAfter count the family's blocks in the old
	// and the new library.
	BlocksBefore int `json:"blocks_before"`
	BlocksAfter  int `json:"blocks_after"`
	// Subnets counts the family's units: for IPv6 networks wider than /52,
	// only the /56s probed or asked about.
	Subnets int `json:"subnets"`
}

// countFamilies fills r's per-family block and unit counts.
func (r *Report) countFamilies(old map[uint32]cidrdb.Record, blocks []block, units []unit) {
	fam := func(a netip.Addr) *FamilyReport {
		if a.Is4() || a.Is4In6() {
			return &r.IPv4
		}
		return &r.IPv6
	}
	for _, rec := range old {
		fam(rec.Network.Addr()).BlocksBefore++
	}
	for _, b := range blocks {
		fam(b.networks[0].Addr()).BlocksAfter++
	}
	for _, u := range units {
		fam(u.prefix.Addr()).Subnets++
	}
}

// Wrong counts wrong answers a library would give to the probed units.
type Wrong struct {
	// Subnets counts probed units with at least one wrong answer, and
	// SubnetShare is their share of the probed units.
	Subnets     int     `json:"subnets"`
	SubnetShare float64 `json:"subnet_share"`
	// Answers counts wrong (unit piece, question) answers, and AnswerShare
	// is their share of all observed ones.
	Answers     int     `json:"answers"`
	AnswerShare float64 `json:"answer_share"`
}

// summaryInput is what summarise compares.
type summaryInput struct {
	cells         []cell
	units         []unit
	vec           []uint32
	nq            int
	before, after partition
	blocks        []block
}

// summarise fills the block and accuracy counts of a report.
func summarise(in summaryInput) Report {
	r := Report{
		BlocksBefore: len(in.before.groups),
		BlocksAfter:  len(in.blocks),
		Subnets:      len(in.units),
		Merged:       spanning(in.after, in.before),
		Split:        spanning(in.before, in.after),
	}
	for _, members := range in.after.groups {
		if sameGroup(in.before, members) {
			r.Unchanged++
		}
	}
	probed := make([]bool, len(in.units))
	covered := make([]bool, len(in.units))
	for i := range covered {
		covered[i] = true
	}
	for c, cl := range in.cells {
		row := in.vec[c*in.nq : (c+1)*in.nq]
		probed[cl.unit] = probed[cl.unit] || !allZero(row)
		covered[cl.unit] = covered[cl.unit] && complete(row)
	}
	for u := range in.units {
		r.SubnetsProbed += b2i(probed[u])
		r.SubnetsCovered += b2i(covered[u])
	}
	r.WrongOld = wrongness(in, in.before, r.SubnetsProbed)
	r.WrongNew = wrongness(in, in.after, r.SubnetsProbed)
	return r
}

// spanning counts groups of p whose cells lie in two or more groups of q.
func spanning(p, q partition) int {
	n := 0
	for _, members := range p.groups {
		g := q.label[members[0]]
		for _, c := range members {
			if q.label[c] != g {
				n++
				break
			}
		}
	}
	return n
}

// wrongness counts the answers p's blocks would get wrong: a block answers
// each question with the answer most of its cells got (the first cell's
// on a tie).
func wrongness(in summaryInput, p partition, probedUnits int) Wrong {
	var w Wrong
	total := 0
	bad := map[int]bool{}
	for _, members := range p.groups {
		for q := range in.nq {
			rep := majority(in.vec, in.nq, members, q)
			for _, c := range members {
				sig := in.vec[c*in.nq+q]
				if sig == 0 {
					continue
				}
				total++
				if sig != rep {
					w.Answers++
					bad[in.cells[c].unit] = true
				}
			}
		}
	}
	w.Subnets = len(bad)
	w.AnswerShare = share(w.Answers, total)
	w.SubnetShare = share(w.Subnets, probedUnits)
	return w
}

// majority returns the answer most of members got to q, the earliest
// cell's among equals (0 when none got one).
func majority(vec []uint32, nq int, members []int, q int) uint32 {
	counts := map[uint32]int{}
	var order []uint32
	for _, c := range members {
		if sig := vec[c*nq+q]; sig != 0 {
			if counts[sig] == 0 {
				order = append(order, sig)
			}
			counts[sig]++
		}
	}
	var best uint32
	for _, sig := range order {
		if best == 0 || counts[sig] > counts[best] {
			best = sig
		}
	}
	return best
}

func share(n, total int) float64 {
	if total == 0 {
		return 0
	}
	return float64(n) / float64(total)
}

func allZero(row []uint32) bool {
	for _, v := range row {
		if v != 0 {
			return false
		}
	}
	return true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// WriteText writes r for a person to read.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "blocks:        %d -> %d (merged %d, split %d, unchanged %d)\n",
		r.BlocksBefore, r.BlocksAfter, r.Merged, r.Split, r.Unchanged)
	fmt.Fprintf(&b, "subnets:       %d, probed %d, covered by every name %d\n",
		r.Subnets, r.SubnetsProbed, r.SubnetsCovered)
	fmt.Fprintf(&b, "observations:  %d, used %d, malformed lines %d\n",
		r.Observations, r.ObservationsUsed, r.MalformedLines)
	mode := "latest answers"
	if r.Hysteresis {
		mode = "hysteresis (two rounds must agree)"
	}
	fmt.Fprintf(&b, "rounds:        %s; %s\n", strings.Join(r.Rounds, ", "), mode)
	if p := r.Probe; p != nil {
		fmt.Fprintf(&b, "probes:        %d sent (%d answered, %d failed), %d skipped, %d inside subnets, %d queries in %s\n",
			p.Answered+p.Failed, p.Answered, p.Failed, p.Skipped, p.FollowUps, p.Queries, p.Elapsed.Round(1e6))
		if p.BudgetSpent {
			fmt.Fprintf(&b, "budget:        spent (-max-queries): probes were left; the library is learnt from what was answered\n")
		}
	}
	for _, f := range []struct {
		name string
		r    FamilyReport
		p    FamilyStats
	}{{"IPv4", r.IPv4, statsOf(r.Probe).IPv4}, {"IPv6", r.IPv6, statsOf(r.Probe).IPv6}} {
		fmt.Fprintf(&b, "%s:          blocks %d -> %d, %d subnets, %d queries, done after %s\n",
			f.name, f.r.BlocksBefore, f.r.BlocksAfter, f.r.Subnets, f.p.Queries, f.p.Elapsed.Round(1e6))
	}
	fmt.Fprintf(&b, "wrong answers: old library %.2f%% of subnets (%.2f%% of answers), new %.2f%% (%.2f%%)\n",
		100*r.WrongOld.SubnetShare, 100*r.WrongOld.AnswerShare, 100*r.WrongNew.SubnetShare, 100*r.WrongNew.AnswerShare)
	_, err := io.WriteString(w, b.String())
	return err
}

func statsOf(p *Stats) Stats {
	if p == nil {
		return Stats{}
	}
	return *p
}
