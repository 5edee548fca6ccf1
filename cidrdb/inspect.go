package cidrdb

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// OpenCIDRDB opens a CIDRDB alone, validated as Open validates it, for
// tools that look inside one without the geo databases (`httpdns cidrdb
// inspect`). Its Locate answers from the CIDRDB; outside it an address gets
// its default /24 or /56 block and no location.
func OpenCIDRDB(path string) (*DB, error) {
	cidr, ix, err := openCIDRDB(path)
	if err != nil {
		return nil, err
	}
	return &DB{cidr: cidr, index: ix}, nil
}

// Metadata is what a CIDRDB file says about itself.
type Metadata struct {
	// DatabaseType is the database_type, "HTTPDNS-CIDRDB".
	DatabaseType string `json:"database_type"`
	// Description is the English description, else the first one by
	// language code.
	Description string `json:"description"`
	// BuildTime is when the file was written, in UTC.
	BuildTime time.Time `json:"build_time"`
	// IPVersion is 6 for an IPv6 tree (holding IPv4 too), 4 for IPv4 only.
	IPVersion int `json:"ip_version"`
	// NodeCount is the number of nodes of the search tree.
	NodeCount int `json:"node_count"`
}

// Metadata returns the CIDRDB's metadata; the zero Metadata without one.
func (db *DB) Metadata() Metadata {
	if db.cidr == nil {
		return Metadata{}
	}
	m := db.cidr.Metadata
	desc := m.Description["en"]
	if keys := slices.Sorted(maps.Keys(m.Description)); desc == "" && len(keys) > 0 {
		desc = m.Description[keys[0]]
	}
	return Metadata{
		DatabaseType: m.DatabaseType,
		Description:  desc,
		BuildTime:    time.Unix(int64(m.BuildEpoch), 0).UTC(),
		IPVersion:    int(m.IPVersion),
		NodeCount:    int(m.NodeCount),
	}
}

// Summary counts what a CIDRDB holds.
type Summary struct {
	// Networks counts the records with a valid network; Blocks the
	// distinct block ids among them, of each family in BlocksIPv4 and
	// BlocksIPv6 (a block's family is its lowest network's).
	Networks   int `json:"networks"`
	Blocks     int `json:"blocks"`
	BlocksIPv4 int `json:"blocks_ipv4"`
	BlocksIPv6 int `json:"blocks_ipv6"`
	// Countries, Cities and ISPs count blocks by the location of their
	// lowest network, most blocks first.
	Countries []Count `json:"countries"`
	Cities    []Count `json:"cities"`
	ISPs      []Count `json:"isps"`
	// Prefixes count networks by family and prefix length, IPv4 first,
	// widest first.
	Prefixes []PrefixCount `json:"prefixes"`
}

// Count is a number of blocks in one country, city or ISP; "" is unknown.
type Count struct {
	// Country is the city's country; empty in the other counts.
	Country string `json:"country,omitempty"`
	Name    string `json:"name"`
	Blocks  int    `json:"blocks"`
}

// PrefixCount is a number of networks of one family (4 or 6) and prefix
// length.
type PrefixCount struct {
	Family   int `json:"family"`
	Bits     int `json:"bits"`
	Networks int `json:"networks"`
}

// Summarize counts recs, in any order. Records with an invalid network are
// left out; IPv4-mapped networks count as IPv4.
func Summarize(recs []Record) Summary {
	type first struct {
		lo  u128
		rec Record
	}
	blocks := map[uint32]first{}
	prefixes := map[PrefixCount]int{}
	var s Summary
	for _, r := range recs {
		p, ok := normNet(r.Network)
		if !ok {
			continue
		}
		r.Network = p
		s.Networks++
		prefixes[PrefixCount{Family: family(p.Addr()), Bits: p.Bits()}]++
		lo, _ := rangeOf(r.Network)
		if b, ok := blocks[r.BlockID]; !ok || lo.less(b.lo) {
			blocks[r.BlockID] = first{lo, r}
		}
	}
	countries, cities, isps := map[Count]int{}, map[Count]int{}, map[Count]int{}
	for _, b := range blocks {
		r := b.rec
		if r.Network.Addr().Is4() {
			s.BlocksIPv4++
		} else {
			s.BlocksIPv6++
		}
		countries[Count{Name: r.Country}]++
		cities[Count{Country: r.Country, Name: r.City}]++
		isps[Count{Name: r.ISP}]++
	}
	s.Blocks = len(blocks)
	s.Countries, s.Cities, s.ISPs = ranked(countries), ranked(cities), ranked(isps)
	for pc, n := range prefixes {
		pc.Networks = n
		s.Prefixes = append(s.Prefixes, pc)
	}
	slices.SortFunc(s.Prefixes, func(a, b PrefixCount) int { return cmp.Or(a.Family-b.Family, a.Bits-b.Bits) })
	return s
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// ranked turns counts into a list, most blocks first, then by name.
func ranked(counts map[Count]int) []Count {
	out := make([]Count, 0, len(counts))
	for c, n := range counts {
		c.Blocks = n
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(b.Blocks-a.Blocks, strings.Compare(a.Country, b.Country), strings.Compare(a.Name, b.Name))
	})
	return out
}

// WriteText writes the summary for people: totals, the top blocks by
// country, city and ISP (all of them when top <= 0), and networks by
// prefix length.
func (s Summary) WriteText(w io.Writer, top int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "networks:\t%d\n", s.Networks)
	fmt.Fprintf(tw, "blocks:\t%d (IPv4 %d, IPv6 %d)\n", s.Blocks, s.BlocksIPv4, s.BlocksIPv6)
	for _, t := range []struct {
		what   string
		counts []Count
	}{{"country", s.Countries}, {"city", s.Cities}, {"ISP", s.ISPs}} {
		shown := t.counts
		if top > 0 && len(shown) > top {
			shown = shown[:top]
		}
		fmt.Fprintf(tw, "\nblocks by %s (%d of %d):\n", t.what, len(shown), len(t.counts))
		for _, c := range shown {
			name := orUnknown(c.Name)
			if t.what == "city" {
				name = orUnknown(c.Country) + "\t" + name
			}
			fmt.Fprintf(tw, "  %s\t%d\n", name, c.Blocks)
		}
	}
	fmt.Fprintf(tw, "\nnetworks by prefix length:\n")
	for _, p := range s.Prefixes {
		fmt.Fprintf(tw, "  IPv%d /%d\t%d\n", p.Family, p.Bits, p.Networks)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// String describes a block: "#7 10.1.1.0/24 CN/Beijing/China Telecom/AS4134",
// with "-" for what is unknown.
func (b BlockRef) String() string {
	dash := func(s string) string { return cmp.Or(s, "-") }
	asn := "-"
	if b.ASN != 0 {
		asn = fmt.Sprintf("AS%d", b.ASN)
	}
	return fmt.Sprintf("#%d %s %s/%s/%s/%s", b.ID, b.Network, dash(b.Country), dash(b.City), dash(b.ISP), asn)
}

// WriteText writes the report for people: the counts of each kind of
// change, then the examples.
func (r DiffReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "old:\t%d blocks in %d networks\n", r.OldBlocks, r.OldNetworks)
	fmt.Fprintf(tw, "new:\t%d blocks in %d networks\n", r.NewBlocks, r.NewNetworks)
	for _, k := range r.kinds() {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", k.name, k.set.Blocks, k.meaning(k.set))
	}
	for _, c := range []struct {
		name string
		cov  Coverage
	}{{"coverage added", r.CoverageAdded}, {"coverage removed", r.CoverageRemoved}} {
		fmt.Fprintf(tw, "%s\t%d\tranges%s\n", c.name, c.cov.Ranges, rangeList(c.cov))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing diff: %w", err)
	}
	for _, k := range r.kinds() {
		if len(k.set.Examples) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s, for example:\n", k.name)
		for _, c := range k.set.Examples {
			fmt.Fprintf(w, "  %s\n", c)
		}
	}
	return nil
}

// String describes a change: "NEW <- OLD, OLD, and N more".
func (c Change) String() string {
	olds := make([]string, 0, len(c.Old)+1)
	for _, o := range c.Old {
		olds = append(olds, o.String())
	}
	if c.MoreOld > 0 {
		olds = append(olds, fmt.Sprintf("and %d more", c.MoreOld))
	}
	switch {
	case c.New == nil:
		return strings.Join(olds, ", ") + " is gone"
	case len(olds) == 0:
		return c.New.String() + " is new"
	}
	return c.New.String() + " <- " + strings.Join(olds, ", ")
}

// kind is one line of the text report.
type kind struct {
	name    string
	set     ChangeSet
	meaning func(ChangeSet) string
}

func (r DiffReport) kinds() []kind {
	from := func(s ChangeSet) string { return fmt.Sprintf("new blocks from %d old blocks", s.OldBlocks) }
	fixed := func(text string) func(ChangeSet) string { return func(ChangeSet) string { return text } }
	return []kind{
		{"unchanged", r.Unchanged, fixed("new blocks with the networks and location of an old block")},
		{"moved", r.Moved, fixed("new blocks with the networks of an old block, located elsewhere")},
		{"merged", r.Merged, from},
		{"split", r.Split, from},
		{"reshaped", r.Reshaped, from},
		{"added", r.Added, fixed("new blocks where there was none")},
		{"removed", r.Removed, fixed("old blocks no new block overlaps")},
	}
}

// rangeList is ": a, b, ..." for the examples of cov, or "".
func rangeList(cov Coverage) string {
	if len(cov.Examples) == 0 {
		return ""
	}
	s := make([]string, 0, len(cov.Examples)+1)
	for _, r := range cov.Examples {
		s = append(s, r.String())
	}
	if cov.Ranges > len(cov.Examples) {
		s = append(s, "...")
	}
	return ": " + strings.Join(s, ", ")
}
