package cidrdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// diffBase is the old library most diff tests change.
func diffBase() []Record {
	return []Record{
		rec("10.0.0.0/24", 1, "CN", "Beijing", "CT", 4134),
		rec("10.0.1.0/24", 2, "CN", "Beijing", "CT", 4134),
		rec("10.0.2.0/24", 3, "CN", "Beijing", "CT", 4134),
		rec("10.0.3.0/24", 4, "CN", "Shanghai", "CT", 4134),
		rec("10.0.4.0/23", 5, "CN", "Beijing", "CU", 4837),
		rec("2001:db8::/48", 6, "CN", "Beijing", "CT", 4134),
	}
}

// replace returns base without the records of the given block ids, plus
// extra.
func replace(base []Record, drop []uint32, extra ...Record) []Record {
	out := slices.DeleteFunc(slices.Clone(base), func(r Record) bool { return slices.Contains(drop, r.BlockID) })
	return append(out, extra...)
}

// diffCounts renders the counts of a report compactly:
// "unchanged=4 merged=1/2 +1 -0" (new blocks/old blocks, then the ranges of
// coverage added and removed).
func diffCounts(r DiffReport) string {
	var parts []string
	for _, k := range r.kinds() {
		if k.set.Blocks > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d/%d", k.name, k.set.Blocks, k.set.OldBlocks))
		}
	}
	return strings.Join(append(parts, fmt.Sprintf("+%d -%d", r.CoverageAdded.Ranges, r.CoverageRemoved.Ranges)), " ")
}

func TestDiff(t *testing.T) {
	t.Parallel()
	base := diffBase()
	bj := func(n string, id uint32) Record { return rec(n, id, "CN", "Beijing", "CT", 4134) }
	renumbered := slices.Clone(base)
	for i := range renumbered {
		renumbered[i].BlockID += 100
	}
	reversed := slices.Clone(base)
	slices.Reverse(reversed)
	tests := []struct {
		name     string
		old, new []Record
		want     string
	}{
		{"identical", base, base, "unchanged=6/6 +0 -0"},
		{"renumbered, any order", base, append(renumbered[3:], renumbered[:3]...), "unchanged=6/6 +0 -0"},
		{"unsorted old", reversed, base, "unchanged=6/6 +0 -0"},
		{"aligned merge", base, replace(base, []uint32{1, 2}, bj("10.0.0.0/23", 10)), "unchanged=4/4 merged=1/2 +0 -0"},
		{"merge that no prefix covers", base, replace(base, []uint32{2, 3}, bj("10.0.1.0/24", 11), bj("10.0.2.0/24", 11)),
			"unchanged=4/4 merged=1/2 +0 -0"},
		{"merge with new coverage", base, replace(base, []uint32{1, 2}, bj("10.0.0.0/23", 10), bj("10.0.8.0/24", 10)),
			"unchanged=4/4 merged=1/2 +1 -0"},
		{"split", base, replace(base, []uint32{5}, rec("10.0.4.0/24", 20, "CN", "Beijing", "CU", 4837), rec("10.0.5.0/24", 21, "CN", "Xian", "CU", 4837)),
			"unchanged=5/5 split=2/1 +0 -0"},
		{"shrunk", base, replace(base, []uint32{5}, rec("10.0.4.0/24", 5, "CN", "Beijing", "CU", 4837)), "unchanged=5/5 split=1/1 +0 -1"},
		{"moved", base, replace(base, []uint32{4}, bj("10.0.3.0/24", 4)), "unchanged=5/5 moved=1/1 +0 -0"},
		{"ASN moved", base, replace(base, []uint32{1}, rec("10.0.0.0/24", 1, "CN", "Beijing", "CT", 1)), "unchanged=5/5 moved=1/1 +0 -0"},
		{"reshaped", base, replace(base, []uint32{3, 4}, bj("10.0.2.0/25", 30), bj("10.0.2.128/25", 31), bj("10.0.3.0/24", 31)),
			"unchanged=4/4 split=1/1 reshaped=1/2 +0 -0"},
		{"grown", base, replace(base, []uint32{1}, bj("10.0.0.0/24", 1), bj("10.0.9.0/24", 1)), "unchanged=5/5 reshaped=1/1 +1 -0"},
		{"added", base, append(slices.Clone(base), bj("10.0.9.0/24", 40), bj("2001:db8:1::/48", 41)), "unchanged=6/6 added=2/0 +2 -0"},
		{"removed", base, replace(base, []uint32{6}), "unchanged=5/5 removed=1/1 +0 -1"},
		{"nothing old", nil, base, "added=6/0 +2 -0"},
		{"nothing new", base, nil, "removed=6/6 +0 -2"},
		{"nothing at all", nil, nil, "+0 -0"},
		{"invalid networks ignored", append(slices.Clone(base), Record{BlockID: 9}), base, "unchanged=6/6 +0 -0"},
		{"IPv4-mapped is IPv4", replace(base, []uint32{1}, rec("::ffff:10.0.0.0/120", 1, "CN", "Beijing", "CT", 4134)), base,
			"unchanged=6/6 +0 -0"},
		{"overlaps: the first network keeps its addresses", base, append(slices.Clone(base), bj("10.0.0.128/25", 50)),
			"unchanged=6/6 +0 -0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := Diff(tt.old, tt.new)
			if got := diffCounts(rep); got != tt.want {
				t.Errorf("Diff counts = %q, want %q", got, tt.want)
			}
			blocks := 0
			for _, k := range rep.kinds()[:6] {
				blocks += k.set.Blocks
			}
			if blocks != rep.NewBlocks {
				t.Errorf("kinds of new blocks add up to %d, NewBlocks %d", blocks, rep.NewBlocks)
			}
		})
	}
}

func TestDiffExamples(t *testing.T) {
	t.Parallel()
	old := diffBase()
	cur := replace(old, []uint32{1, 2, 3, 4}, rec("10.0.0.0/22", 10, "CN", "Beijing", "CT", 4134))
	cur = replace(cur, []uint32{6}, rec("2001:db8::/48", 6, "CN", "Xian", "CT", 4134), rec("10.0.9.0/24", 11, "", "", "", 0))
	rep := Diff(old, cur)
	ref := func(r Record) BlockRef {
		return BlockRef{ID: r.BlockID, Network: r.Network, Country: r.Country, City: r.City, ISP: r.ISP, ASN: r.ASN}
	}
	newRef := func(r Record) *BlockRef { b := ref(r); return &b }
	want := DiffReport{
		OldNetworks: 6, OldBlocks: 6, NewNetworks: 4, NewBlocks: 4,
		Unchanged: ChangeSet{Blocks: 1, OldBlocks: 1},
		Moved:     ChangeSet{Blocks: 1, OldBlocks: 1, Examples: []Change{{New: newRef(cur[2]), Old: []BlockRef{ref(old[5])}}}},
		Merged: ChangeSet{Blocks: 1, OldBlocks: 4, Examples: []Change{
			{New: newRef(cur[1]), Old: []BlockRef{ref(old[0]), ref(old[1]), ref(old[2]), ref(old[3])}},
		}},
		Added:         ChangeSet{Blocks: 1, Examples: []Change{{New: newRef(cur[3])}}},
		CoverageAdded: Coverage{Ranges: 1, Examples: []Range{{addr("10.0.9.0"), addr("10.0.9.255")}}},
	}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("Diff:\n got %+v\nwant %+v", rep, want)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back DiffReport
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, rep) {
		t.Errorf("JSON round trip = %+v, %v\nfrom %s", back, err, b)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	wantText := `old:              6 blocks in 6 networks
new:              4 blocks in 4 networks
unchanged         1  new blocks with the networks and location of an old block
moved             1  new blocks with the networks of an old block, located elsewhere
merged            1  new blocks from 4 old blocks
split             0  new blocks from 0 old blocks
reshaped          0  new blocks from 0 old blocks
added             1  new blocks where there was none
removed           0  old blocks no new block overlaps
coverage added    1  ranges: 10.0.9.0/24
coverage removed  0  ranges

moved, for example:
  #6 2001:db8::/48 CN/Xian/CT/AS4134 <- #6 2001:db8::/48 CN/Beijing/CT/AS4134

merged, for example:
  #10 10.0.0.0/22 CN/Beijing/CT/AS4134 <- #1 10.0.0.0/24 CN/Beijing/CT/AS4134, #2 10.0.1.0/24 CN/Beijing/CT/AS4134, #3 10.0.2.0/24 CN/Beijing/CT/AS4134, #4 10.0.3.0/24 CN/Shanghai/CT/AS4134

added, for example:
  #11 10.0.9.0/24 -/-/-/- is new
`
	if text.String() != wantText {
		t.Errorf("WriteText:\n%s\nwant\n%s", text.String(), wantText)
	}
}

// TestDiffLimits checks that a report keeps DiffExamples examples of a kind
// and names at most maxOldRefs old blocks in one.
func TestDiffLimits(t *testing.T) {
	t.Parallel()
	var old, cur []Record
	for i := range 64 {
		old = append(old, rec(fmt.Sprintf("10.1.%d.0/24", i), uint32(i+1), "CN", "Beijing", "CT", 4134))
	}
	for i := range 8 {
		cur = append(cur, rec(fmt.Sprintf("10.1.%d.0/21", 8*i), uint32(i+1), "CN", "Beijing", "CT", 4134))
	}
	rep := Diff(old, cur)
	if got := diffCounts(rep); got != "merged=8/64 +0 -0" {
		t.Fatalf("Diff counts = %q", got)
	}
	if n := len(rep.Merged.Examples); n != DiffExamples {
		t.Errorf("%d examples, want %d", n, DiffExamples)
	}
	if c := rep.Merged.Examples[0]; len(c.Old) != maxOldRefs || c.MoreOld != 8-maxOldRefs ||
		!strings.HasSuffix(c.String(), ", and 4 more") {
		t.Errorf("example %+v names %d old blocks and %d more", c, len(c.Old), c.MoreOld)
	}
	removed := Diff(cur, nil)
	if c := removed.Removed.Examples[0].String(); c != "#1 10.1.0.0/21 CN/Beijing/CT/AS4134 is gone" {
		t.Errorf("removed example = %q", c)
	}
}

// TestDiffBuilt diffs a library built from the geo fixtures against itself
// and against a copy with every pair of neighbouring blocks merged.
func TestDiffBuilt(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	recs, err := BuildFromGeo(g.city, g.isp, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := diffCounts(Diff(recs, recs)), fmt.Sprintf("unchanged=%d/%d +0 -0", len(recs), len(recs)); got != want {
		t.Errorf("Diff(recs, recs) = %q, want %q", got, want)
	}
	var merged []Record
	for i, r := range recs {
		if r.Network.Addr().Is4() {
			r.BlockID = uint32(i/2 + 1) // blocks 1+2, 3+4, ... become one
		}
		merged = append(merged, r)
	}
	rep := Diff(recs, merged)
	if rep.Merged.Blocks == 0 || rep.Merged.OldBlocks != 2*rep.Merged.Blocks || rep.Added.Blocks+rep.Removed.Blocks != 0 {
		t.Errorf("Diff(recs, pairs merged) = %s", diffCounts(rep))
	}
}

// fuzzRecords turns bytes into records, 6 bytes each: IPv4, IPv6,
// IPv4-mapped or invalid networks near each other, any prefix length, a
// few block ids and cities, so that networks overlap and blocks disagree.
func fuzzRecords(data []byte) []Record {
	var recs []Record
	for ; len(data) >= 6; data = data[6:] {
		c := data[:6]
		var p netip.Prefix
		switch c[0] % 4 {
		case 0:
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, c[1], c[2], c[3]}), int(c[4])%33)
		case 1:
			p = netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, c[1], c[2], c[3]}), int(c[4])%129)
		case 2:
			p = netip.PrefixFrom(netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: 10, 13: c[1], 14: c[2], 15: c[3]}), int(c[4])%129)
		}
		city := []string{"", "Beijing", "Shanghai", "Xian"}[c[5]>>6]
		recs = append(recs, Record{Network: p, BlockID: uint32(c[5] % 16), Country: "CN", City: city})
	}
	return recs
}

// FuzzDiff diffs and summarizes arbitrary records: no panic, every new
// block of exactly one kind, a library unchanged against itself, coverage
// symmetric, and summaries that add up.
//
//	go test ./cidrdb -run '^$' -fuzz FuzzDiff -fuzztime 5s
func FuzzDiff(f *testing.F) {
	f.Add([]byte{12, 0, 0, 0, 0, 24, 1, 0, 1, 0, 0, 0, 24, 1, 0, 0, 0, 0, 23, 2})
	f.Add([]byte{6, 1, 0, 0, 0, 48, 3, 2, 0, 1, 0, 120, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		mid := min(int(data[0]), len(data)-1)
		a, b := fuzzRecords(data[1:mid+1]), fuzzRecords(data[mid+1:])
		ab, ba := Diff(a, b), Diff(b, a)
		for _, rep := range []DiffReport{ab, ba} {
			n := 0
			for _, k := range rep.kinds()[:6] {
				n += k.set.Blocks
				if len(k.set.Examples) > DiffExamples {
					t.Errorf("%s: %d examples", k.name, len(k.set.Examples))
				}
			}
			if n != rep.NewBlocks || rep.Removed.Blocks > rep.OldBlocks {
				t.Errorf("kinds add up to %d of %d new blocks; %d of %d old removed", n, rep.NewBlocks, rep.Removed.Blocks, rep.OldBlocks)
			}
			if err := rep.WriteText(io.Discard); err != nil {
				t.Error(err)
			}
			if _, err := json.Marshal(rep); err != nil {
				t.Error(err)
			}
		}
		if ab.CoverageAdded.Ranges != ba.CoverageRemoved.Ranges || ab.CoverageRemoved.Ranges != ba.CoverageAdded.Ranges {
			t.Errorf("coverage not symmetric: %+v / %+v", ab, ba)
		}
		if self := Diff(a, a); self.Unchanged.Blocks != self.NewBlocks || self.CoverageAdded.Ranges+self.CoverageRemoved.Ranges != 0 {
			t.Errorf("Diff(a, a) = %s with %d blocks", diffCounts(self), self.NewBlocks)
		}
		s := Summarize(a)
		sum := func(cs []Count) (n int) {
			for _, c := range cs {
				n += c.Blocks
			}
			return n
		}
		nets := 0
		for _, p := range s.Prefixes {
			nets += p.Networks
		}
		if s.Blocks != s.BlocksIPv4+s.BlocksIPv6 || sum(s.Countries) != s.Blocks || sum(s.Cities) != s.Blocks ||
			sum(s.ISPs) != s.Blocks || nets != s.Networks {
			t.Errorf("Summarize does not add up: %+v", s)
		}
		if err := s.WriteText(io.Discard, 3); err != nil {
			t.Error(err)
		}
	})
}

// BenchmarkDiff diffs a library of a million /24 blocks against one where
// every pair of them is merged.
//
//	go test ./cidrdb -run '^$' -bench BenchmarkDiff -benchtime 3x
func BenchmarkDiff(b *testing.B) {
	const n = 1 << 20
	old, cur := make([]Record, n), make([]Record, n)
	for i := range n {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(20 + i>>16), byte(i >> 8), byte(i), 0}), 24)
		old[i] = Record{Network: p, BlockID: uint32(i + 1), Country: "CN", City: "Beijing"}
		cur[i] = Record{Network: p, BlockID: uint32(i/2 + 1), Country: "CN", City: "Beijing"}
	}
	b.ReportAllocs()
	for b.Loop() {
		if rep := Diff(old, cur); rep.Merged.Blocks != n/2 {
			b.Fatalf("merged %d blocks", rep.Merged.Blocks)
		}
	}
}
