package prober_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/prober"
)

// t0 is when the synthetic observations' first round ran.
var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// obs is a probe observation in round r (its hour after t0) of subnet with
// the given scope and one answer.
func obs(r int, subnet, domain string, scope int, answer string) prober.Observation {
	o := observation(subnet, domain, answer)
	o.Scope = scope
	o.Round = fmt.Sprintf("r%d", r)
	o.Time = t0.Add(time.Duration(r) * time.Hour)
	return o
}

// each returns one observation per /24 of subnets (a list of "a.b.c.0/24"
// prefixes), all in round r answering answer for domain.
func each(r int, domain, answer string, subnets ...string) []prober.Observation {
	var out []prober.Observation
	for _, s := range subnets {
		out = append(out, obs(r, s, domain, 24, answer))
	}
	return out
}

// rec is a CIDRDB record in CN, Beijing, ISP "A".
func rec(network string, id uint32) cidrdb.Record {
	return cidrdb.Record{Network: netip.MustParsePrefix(network), BlockID: id, Country: "CN", City: "Beijing", ISP: "A", ASN: 64500}
}

// slash24s returns the /24 records 10.0.first.0 .. 10.0.last.0, ids from 1.
func slash24s(first, last int) []cidrdb.Record {
	var out []cidrdb.Record
	for i := first; i <= last; i++ {
		out = append(out, rec(fmt.Sprintf("10.0.%d.0/24", i), uint32(i-first+1)))
	}
	return out
}

func subnets(first, last int) []string {
	var out []string
	for i := first; i <= last; i++ {
		out = append(out, fmt.Sprintf("10.0.%d.0/24", i))
	}
	return out
}

// layout renders records as "network=id" in address order.
func layout(recs []cidrdb.Record) string {
	var parts []string
	for _, r := range recs {
		parts = append(parts, fmt.Sprintf("%s=%d", r.Network, r.BlockID))
	}
	return strings.Join(parts, " ")
}

func concat(parts ...[]prober.Observation) []prober.Observation { return slices.Concat(parts...) }

func TestLearnMergeAndSplit(t *testing.T) {
	t.Parallel()
	withISP := func(recs []cidrdb.Record, i int, isp, country string) []cidrdb.Record {
		recs[i].ISP, recs[i].Country = isp, country
		return recs
	}
	tests := []struct {
		name    string
		blocks  []cidrdb.Record
		obs     []prober.Observation
		domains []string
		want    string
	}{
		{"adjacent equal /24s merge into a CIDR block", slash24s(0, 3),
			each(1, "a.test", "1.1.1.1", subnets(0, 3)...), nil,
			"10.0.0.0/22=5"},
		{"an unaligned run shares one block id", slash24s(1, 3),
			each(1, "a.test", "1.1.1.1", subnets(1, 3)...), nil,
			"10.0.1.0/24=4 10.0.2.0/23=4"},
		{"no merge across ISP; runs apart in one ISP join", withISP(slash24s(0, 3), 2, "B", "CN"),
			each(1, "a.test", "1.1.1.1", subnets(0, 3)...), nil,
			"10.0.0.0/23=5 10.0.2.0/24=3 10.0.3.0/24=5"},
		{"no merge across country; runs apart in one country join", withISP(slash24s(0, 3), 1, "A", "SG"),
			each(1, "a.test", "1.1.1.1", subnets(0, 3)...), nil,
			"10.0.0.0/24=5 10.0.1.0/24=2 10.0.2.0/23=5"},
		{"runs apart that answer alike share one block", append(slash24s(0, 0), rec("10.0.2.0/24", 2)),
			each(1, "a.test", "1.1.1.1", "10.0.0.0/24", "10.0.2.0/24"), nil,
			"10.0.0.0/24=3 10.0.2.0/24=3"},
		{"runs apart in other cities stay apart", append(slash24s(0, 0), cidrdb.Record{
			Network: netip.MustParsePrefix("10.0.2.0/24"), BlockID: 2, Country: "CN", City: "Shanghai", ISP: "A", ASN: 64500}),
			each(1, "a.test", "1.1.1.1", "10.0.0.0/24", "10.0.2.0/24"), nil,
			"10.0.0.0/24=1 10.0.2.0/24=2"},
		{"runs apart that answer otherwise stay apart", append(slash24s(0, 0), rec("10.0.2.0/24", 2)),
			concat(each(1, "a.test", "1.1.1.1", "10.0.0.0/24"), each(1, "a.test", "2.2.2.2", "10.0.2.0/24")), nil,
			"10.0.0.0/24=1 10.0.2.0/24=2"},
		{"a block whose parts disagree splits", []cidrdb.Record{rec("10.0.0.0/22", 7)},
			concat(each(1, "a.test", "1.1.1.1", subnets(0, 1)...), each(1, "a.test", "2.2.2.2", subnets(2, 3)...)), nil,
			"10.0.0.0/23=8 10.0.2.0/23=9"},
		{"every name must agree", slash24s(0, 1),
			concat(each(1, "a.test", "1.1.1.1", subnets(0, 1)...), each(1, "b.test", "3.3.3.3", "10.0.0.0/24"),
				each(1, "b.test", "4.4.4.4", "10.0.1.0/24")), []string{"a.test", "b.test"},
			"10.0.0.0/24=1 10.0.1.0/24=2"},
		{"answers are compared as sets", slash24s(0, 1),
			[]prober.Observation{
				observationIn(1, "10.0.0.0/24", "a.test", "1.1.1.1", "1.1.1.2"),
				observationIn(1, "10.0.1.0/24", "a.test", "1.1.1.2", "1.1.1.1")}, nil,
			"10.0.0.0/23=3"},
		{"unchanged blocks keep their ids", []cidrdb.Record{rec("10.0.0.0/23", 3), rec("10.0.2.0/23", 9)},
			concat(each(1, "a.test", "1.1.1.1", subnets(0, 1)...), each(1, "a.test", "2.2.2.2", subnets(2, 3)...)), nil,
			"10.0.0.0/23=3 10.0.2.0/23=9"},
		{"a scope shorter than 24 answers the wider prefix", slash24s(0, 3),
			[]prober.Observation{obs(1, "10.0.1.0/24", "a.test", 22, "1.1.1.1")}, nil,
			"10.0.0.0/22=5"},
		{"a scope longer than 24 splits the /24", slash24s(0, 1),
			[]prober.Observation{
				obs(1, "10.0.0.0/24", "a.test", 26, "1.1.1.1"),
				obs(1, "10.0.0.64/26", "a.test", 26, "2.2.2.2"),
				obs(1, "10.0.0.128/26", "a.test", 26, "1.1.1.1"),
				obs(1, "10.0.0.192/26", "a.test", 26, "1.1.1.1"),
				obs(1, "10.0.1.0/24", "a.test", 24, "1.1.1.1")}, nil,
			"10.0.0.0/26=3 10.0.0.64/26=4 10.0.0.128/25=3 10.0.1.0/24=3"},
		{"a unit lacking a name keeps its old block", []cidrdb.Record{rec("10.0.0.0/22", 7)},
			concat(each(1, "a.test", "1.1.1.1", subnets(0, 3)...), each(1, "b.test", "1.1.1.1", subnets(0, 2)...)),
			[]string{"a.test", "b.test"},
			"10.0.0.0/23=8 10.0.2.0/24=8 10.0.3.0/24=7"},
		{"unprobed blocks stay", slash24s(0, 3), nil, nil,
			"10.0.0.0/24=1 10.0.1.0/24=2 10.0.2.0/24=3 10.0.3.0/24=4"},
		{"the latest answer wins", slash24s(0, 1),
			concat(each(1, "a.test", "9.9.9.9", "10.0.0.0/24"), each(2, "a.test", "1.1.1.1", subnets(0, 1)...)), nil,
			"10.0.0.0/23=3"},
		{"a newer probe overrides an older split signal", slash24s(0, 1),
			concat(each(2, "a.test", "1.1.1.1", subnets(0, 1)...),
				[]prober.Observation{splitSignal(1, "10.0.0.0/24", "a.test", 25, "6.6.6.6")}), nil,
			"10.0.0.0/23=3"},
		{"a newer split signal cuts the /24", slash24s(0, 1),
			concat(each(2, "a.test", "1.1.1.1", subnets(0, 1)...),
				[]prober.Observation{splitSignal(3, "10.0.0.0/24", "a.test", 25, "6.6.6.6")}), nil,
			"10.0.0.0/25=3 10.0.0.128/25=4 10.0.1.0/24=4"},
		{"at the same time a probe beats a split signal", slash24s(0, 1),
			concat(each(2, "a.test", "1.1.1.1", subnets(0, 1)...),
				[]prober.Observation{splitSignal(2, "10.0.1.0/24", "a.test", 24, "6.6.6.6")}), nil,
			"10.0.0.0/23=3"},
		{"a newer round that finds a /24 uniform overrides an older cut", slash24s(0, 1),
			concat([]prober.Observation{obs(1, "10.0.0.0/24", "a.test", 26, "1.1.1.1"),
				obs(1, "10.0.0.64/26", "a.test", 26, "2.2.2.2")},
				each(2, "a.test", "1.1.1.1", subnets(0, 1)...)), nil,
			"10.0.0.0/23=3"},
		{"ipv6 units", []cidrdb.Record{{Network: netip.MustParsePrefix("2001:db8::/55"), BlockID: 1}},
			[]prober.Observation{obs(1, "2001:db8::/56", "a.test", 56, "1.1.1.1"),
				obs(1, "2001:db8:0:100::/56", "a.test", 56, "2.2.2.2")}, nil,
			"2001:db8::/56=2 2001:db8:0:100::/56=3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			domains := tt.domains
			if domains == nil {
				domains = []string{"a.test"}
			}
			res, err := prober.Learn(prober.LearnInput{Blocks: tt.blocks, Observations: tt.obs, Domains: domains})
			if err != nil {
				t.Fatalf("Learn: %v", err)
			}
			if got := layout(res.Records); got != tt.want {
				t.Errorf("learnt\n  %s\nwant\n  %s", got, tt.want)
			}
			if _, err := writeAndRead(t, res.Records); err != nil {
				t.Errorf("learnt records are not a valid CIDRDB: %v", err)
			}
		})
	}
}

func TestLearnContiguous(t *testing.T) {
	t.Parallel()
	// 10.0.1.0/24 answers otherwise: the two runs around it answer alike.
	o := concat(each(1, "a.test", "1.1.1.1", "10.0.0.0/24", "10.0.2.0/24", "10.0.3.0/24"),
		each(1, "a.test", "2.2.2.2", "10.0.1.0/24"))
	for _, tt := range []struct {
		contiguous bool
		want       string
	}{
		{false, "10.0.0.0/24=5 10.0.1.0/24=2 10.0.2.0/23=5"},
		{true, "10.0.0.0/24=1 10.0.1.0/24=2 10.0.2.0/23=5"},
	} {
		res, err := prober.Learn(prober.LearnInput{Blocks: slash24s(0, 3), Observations: o, Domains: []string{"a.test"},
			Contiguous: tt.contiguous})
		if err != nil {
			t.Fatal(err)
		}
		if got := layout(res.Records); got != tt.want {
			t.Errorf("Contiguous %v: learnt %s, want %s", tt.contiguous, got, tt.want)
		}
		if _, err := writeAndRead(t, res.Records); err != nil {
			t.Errorf("Contiguous %v: learnt records are not a valid CIDRDB: %v", tt.contiguous, err)
		}
	}
}

func observationIn(r int, subnet, domain string, answers ...string) prober.Observation {
	o := observation(subnet, domain, answers...)
	o.Round, o.Time = fmt.Sprintf("r%d", r), t0.Add(time.Duration(r)*time.Hour)
	return o
}

func splitSignal(r int, subnet, domain string, scope int, answer string) prober.Observation {
	o := obs(r, subnet, domain, scope, answer)
	o.Source, o.Round, o.Node = prober.SourceSplit, "split", ""
	return o
}

// writeAndRead writes recs as a CIDRDB and reads them back.
func writeAndRead(t *testing.T, recs []cidrdb.Record) ([]cidrdb.Record, error) {
	t.Helper()
	path := tempPath(t, "learnt.mmdb")
	if err := cidrdb.WriteFile(path, recs); err != nil {
		return nil, err
	}
	return cidrdb.ReadFile(path)
}

// fixedLocator places every address of a table; others are unknown.
type fixedLocator map[netip.Prefix]cidrdb.Location

func (l fixedLocator) Locate(a netip.Addr) cidrdb.Location {
	for p, loc := range l {
		if p.Contains(a) {
			return loc
		}
	}
	return cidrdb.Location{}
}

func TestLearnLocatorAndCity(t *testing.T) {
	t.Parallel()
	loc := fixedLocator{
		netip.MustParsePrefix("10.0.0.0/23"): {Country: "CN", City: "Beijing", ISP: "A", ASN: 1},
		netip.MustParsePrefix("10.0.2.0/24"): {Country: "CN", City: "Shanghai", ISP: "A", ASN: 1},
		netip.MustParsePrefix("10.0.3.0/24"): {Country: "CN", City: "Beijing", ISP: "B", ASN: 2},
	}
	// The records say otherwise; the locator wins.
	res, err := prober.Learn(prober.LearnInput{Blocks: slash24s(0, 3), Locator: loc, Domains: []string{"a.test"},
		Observations: each(1, "a.test", "1.1.1.1", subnets(0, 3)...)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := layout(res.Records), "10.0.0.0/23=5 10.0.2.0/24=5 10.0.3.0/24=4"; got != want {
		t.Fatalf("learnt %s, want %s", got, want)
	}
	// Two Beijing /24s outvote one Shanghai /24.
	if r := res.Records[1]; r.City != "Beijing" || r.ISP != "A" || r.ASN != 1 {
		t.Errorf("merged block placed %+v, want the majority city Beijing", r)
	}
	if r := res.Records[2]; r.ISP != "B" || r.ASN != 2 {
		t.Errorf("other-ISP block placed %+v", r)
	}
}

func TestLearnHysteresis(t *testing.T) {
	t.Parallel()
	old := []cidrdb.Record{rec("10.0.0.0/22", 1), rec("10.0.4.0/22", 2)}
	const oldLayout = "10.0.0.0/22=1 10.0.4.0/22=2"
	round := func(r int, noisy bool) []prober.Observation {
		o := concat(each(r, "a.test", "1.1.1.1", subnets(0, 3)...), each(r, "a.test", "2.2.2.2", subnets(4, 7)...))
		if noisy {
			o[1].Answers = []netip.Addr{netip.MustParseAddr("3.3.3.3")} // 10.0.1.0/24 moves
		}
		return o
	}
	tests := []struct {
		name       string
		obs        []prober.Observation
		hysteresis bool
		want       string
	}{
		{"one noisy round does not move blocks", concat(round(1, false), round(2, true)), true, oldLayout},
		{"a single round does not move blocks", round(2, true), true, oldLayout},
		{"two agreeing rounds do", concat(round(1, false), round(2, true), round(3, true)), true,
			"10.0.0.0/24=3 10.0.1.0/24=4 10.0.2.0/23=3 10.0.4.0/22=2"},
		{"a split signal alone does not move blocks", concat(round(1, false), round(2, false),
			[]prober.Observation{splitSignal(3, "10.0.0.0/24", "a.test", 25, "9.9.9.9")}), true, oldLayout},
		{"noise back and forth keeps them", concat(round(1, true), round(2, false), round(3, true)), true, oldLayout},
		{"without hysteresis the latest round rules", concat(round(1, false), round(2, true)), false,
			"10.0.0.0/24=3 10.0.1.0/24=4 10.0.2.0/23=3 10.0.4.0/22=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := prober.Learn(prober.LearnInput{Blocks: old, Observations: tt.obs, Domains: []string{"a.test"},
				Hysteresis: tt.hysteresis})
			if err != nil {
				t.Fatal(err)
			}
			if got := layout(res.Records); got != tt.want {
				t.Errorf("learnt %s, want %s", got, tt.want)
			}
		})
	}
	// Merges need two rounds too.
	merge := concat(each(1, "a.test", "1.1.1.1", subnets(0, 3)...), each(2, "a.test", "1.1.1.1", subnets(0, 3)...))
	res, err := prober.Learn(prober.LearnInput{Blocks: slash24s(0, 3), Observations: merge, Domains: []string{"a.test"},
		Hysteresis: true})
	if err != nil || layout(res.Records) != "10.0.0.0/22=5" {
		t.Errorf("two agreeing rounds: learnt %s (%v), want one /22", layout(res.Records), err)
	}
	if res.Report.Rounds == nil || !slices.Equal(res.Report.Rounds, []string{"r1", "r2"}) {
		t.Errorf("report rounds %v, want [r1 r2]", res.Report.Rounds)
	}
}

func TestLearnReport(t *testing.T) {
	t.Parallel()
	// Old: one /22 (units answer A A A B) and two /24s that answer alike.
	old := []cidrdb.Record{rec("10.0.0.0/22", 1), rec("10.0.4.0/24", 2), rec("10.0.5.0/24", 3), rec("10.0.6.0/24", 4)}
	o := concat(each(1, "a.test", "1.1.1.1", subnets(0, 2)...), each(1, "a.test", "2.2.2.2", subnets(3, 5)...),
		[]prober.Observation{obs(1, "192.0.2.0/24", "a.test", 24, "1.1.1.1"), obs(1, "10.0.0.0/24", "other.test", 24, "1.1.1.1")})
	res, err := prober.Learn(prober.LearnInput{Blocks: old, Observations: o, Domains: []string{"a.test"}})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Report
	got := fmt.Sprintf("%d->%d merged %d split %d unchanged %d subnets %d probed %d covered %d obs %d used %d",
		r.BlocksBefore, r.BlocksAfter, r.Merged, r.Split, r.Unchanged, r.Subnets, r.SubnetsProbed, r.SubnetsCovered,
		r.Observations, r.ObservationsUsed)
	if want := "4->3 merged 1 split 1 unchanged 1 subnets 7 probed 6 covered 6 obs 8 used 6"; got != want {
		t.Errorf("report %s\nwant   %s", got, want)
	}
	// The old /22 answers A for 10.0.3.0/24, which gets B: 1 of 6 probed
	// subnets wrong; the new library gets all right.
	if r.WrongOld.Subnets != 1 || r.WrongOld.SubnetShare != 1.0/6 || r.WrongNew.Subnets != 0 {
		t.Errorf("wrong old %+v new %+v, want 1/6 and 0", r.WrongOld, r.WrongNew)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"4 -> 3", "merged 1", "16.67% of subnets"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestLearnErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   prober.LearnInput
		want error
	}{
		{"no blocks", prober.LearnInput{Domains: []string{"a.test"}}, prober.ErrNoBlocks},
		{"overlapping blocks", prober.LearnInput{Domains: []string{"a.test"},
			Blocks: []cidrdb.Record{rec("10.0.0.0/23", 1), rec("10.0.1.0/24", 2)}}, cidrdb.ErrSchema},
		{"zero block id", prober.LearnInput{Domains: []string{"a.test"}, Blocks: []cidrdb.Record{rec("10.0.0.0/23", 0)}},
			cidrdb.ErrSchema},
		{"no domains", prober.LearnInput{Blocks: slash24s(0, 1)}, prober.ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := prober.Learn(tt.in); !errors.Is(err, tt.want) {
				t.Errorf("Learn error = %v, want %v", err, tt.want)
			}
		})
	}
}
