package cidrdb

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DefaultMaxBlocks is the most blocks BuildFromGeo makes unless told
// otherwise: more than the IPv4 /24s any geo database covers (about 14
// million), far fewer than a careless unit size makes of IPv6.
const DefaultMaxBlocks = 20_000_000

var (
	// ErrTooManyBlocks reports a build that would make more blocks than
	// BuildOptions.MaxBlocks allows.
	ErrTooManyBlocks = errors.New("too many blocks")
	// ErrBuildOptions reports BuildOptions out of range.
	ErrBuildOptions = errors.New("invalid build options")
)

// IPv6Mode says how BuildFromGeo turns the geo databases' IPv6 networks
// into blocks.
type IPv6Mode int

const (
	// IPv6Geo makes each run of adjacent IPv6 addresses that the geo
	// databases place alike (same country, city, ISP and ASN) one block, no
	// finer than /Bits6 and cut at /16 boundaries (a run over two /16s is
	// two blocks: no CIDRDB network is wider than MinBitsIPv6). Geo databases cover far too much IPv6 space to cut
	// it into /56s (MaxMind's small test ISP database alone holds 7e13), so
	// IPv6 blocks start as wide as the geo data; the resolver's scope rules
	// keep a wide block from misrouting and feed the prober its splits.
	IPv6Geo IPv6Mode = iota
	// IPv6Units cuts IPv6 like IPv4, into /Bits6 units, one block each: for
	// worlds with little IPv6, or with a coarse Bits6.
	IPv6Units
	// IPv6Off leaves IPv6 out; IPv6 clients then sit in their default /56
	// blocks located by the geo databases.
	IPv6Off
)

// String returns the mode's name: "geo", "units" or "off".
func (m IPv6Mode) String() string {
	switch m {
	case IPv6Geo:
		return "geo"
	case IPv6Units:
		return "units"
	case IPv6Off:
		return "off"
	}
	return fmt.Sprintf("IPv6Mode(%d)", int(m))
}

// MarshalText returns the mode's name.
func (m IPv6Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads a mode's name: "geo", "units" or "off".
func (m *IPv6Mode) UnmarshalText(b []byte) error {
	for _, c := range []IPv6Mode{IPv6Geo, IPv6Units, IPv6Off} {
		if string(b) == c.String() {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("%w: IPv6 mode %q is not geo, units or off", ErrBuildOptions, b)
}

// BuildOptions shape the CIDRDB that BuildFromGeo makes. The zero value
// asks for the defaults.
type BuildOptions struct {
	// Bits4 is the prefix length of an IPv4 unit, 8..32. Default 24, the
	// ECS source prefix (RFC 7871) the resolver sends.
	Bits4 int
	// Bits6 is the prefix length of an IPv6 unit (IPv6Units) or of the
	// finest IPv6 block (IPv6Geo), 16..128. Default 56, the ECS source prefix.
	// No IPv6 network of the result is wider than /16 (MinBitsIPv6).
	Bits6 int
	// IPv6 says what becomes of IPv6. Default IPv6Geo.
	IPv6 IPv6Mode
	// MaxBlocks bounds the number of blocks, 1..2^32-1; a build that would
	// make more fails with ErrTooManyBlocks before it allocates them.
	// Default DefaultMaxBlocks.
	MaxBlocks int
}

// withDefaults fills zero fields and checks the ranges.
func (o BuildOptions) withDefaults() (BuildOptions, error) {
	if o.Bits4 == 0 {
		o.Bits4 = DefaultBitsIPv4
	}
	if o.Bits6 == 0 {
		o.Bits6 = DefaultBitsIPv6
	}
	if o.MaxBlocks == 0 {
		o.MaxBlocks = DefaultMaxBlocks
	}
	var errs []error
	if o.Bits4 < 8 || o.Bits4 > 32 {
		errs = append(errs, fmt.Errorf("%w: Bits4 %d is not in 8..32", ErrBuildOptions, o.Bits4))
	}
	if o.Bits6 < MinBitsIPv6 || o.Bits6 > 128 {
		errs = append(errs, fmt.Errorf("%w: Bits6 %d is not in %d..128", ErrBuildOptions, o.Bits6, MinBitsIPv6))
	}
	if o.IPv6 < IPv6Geo || o.IPv6 > IPv6Off {
		errs = append(errs, fmt.Errorf("%w: unknown %v", ErrBuildOptions, o.IPv6))
	}
	if o.MaxBlocks < 1 || int64(o.MaxBlocks) > math.MaxUint32 {
		errs = append(errs, fmt.Errorf("%w: MaxBlocks %d is not in 1..%d", ErrBuildOptions, o.MaxBlocks, uint32(math.MaxUint32)))
	}
	return o, errors.Join(errs...)
}

// BuildFromGeo makes the starting CIDRDB from a MaxMind City-schema
// database and an ISP- or ASN-schema database, the one that `httpdns cidrdb
// build` writes and the prober refines.
//
// The two databases' networks are laid over each other, so that each piece
// of address space has one country and city and one ISP and ASN (read as
// Locate reads them). Address space that either database covers becomes
// blocks; space neither covers does not. A piece that only one database
// covers, or whose records are empty, still makes blocks, with the unknown
// fields empty: "unknown" is located too.
//
// IPv4 is cut into /Bits4 units (aligned prefixes), each its own block. A
// unit takes its country and city from the lowest of its addresses that the
// City database covers, and its ISP and ASN from the lowest that the ISP
// database covers: geo detail finer than a unit (a /26 in a /24) is left
// to the prober. IPv6 follows opts.IPv6, with the same rule for geo
// networks finer than /Bits6. IPv6 networks inside ::/8 (which holds the mmdb IPv4 subtree) and
// the IPv4 aliases 2001::/32 (Teredo) and 2002::/16 (6to4) are left out:
// their addresses are IPv4 clients in disguise.
//
// Block ids are 1..n in address order, IPv4 first; a block of several
// networks (an IPv6 run that is not CIDR-aligned) has one record per
// network. The result is sorted by address and goes to WriteFile as it is.
// Errors name the file at fault; a database of the wrong type is
// ErrWrongType, too many blocks ErrTooManyBlocks.
func BuildFromGeo(cityPath, ispPath string, opts BuildOptions) ([]Record, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("building cidrdb: %w", err)
	}
	city, err := readGeo(cityPath, isCityType, "a City", opts.IPv6 != IPv6Off, decodeCity)
	if err != nil {
		return nil, err
	}
	isp, err := readGeo(ispPath, isISPType, "an ISP or ASN", opts.IPv6 != IPv6Off, decodeISP)
	if err != nil {
		return nil, err
	}
	// Each database is snapped to the unit grid on its own, so a unit takes
	// each field from the lowest of its addresses that field's database
	// covers; laid over each other, the snapped databases cut the grid into
	// whole units.
	city.spans, isp.spans = opts.snap(city.spans), opts.snap(isp.spans)
	count := &cutter{opts: opts}
	overlay(city.spans, isp.spans, func(lo, hi u128, c, i int32) { count.piece(lo, hi, place(city, isp, c, i)) })
	count.finish()
	if total := count.n4 + count.n6; count.n4 > uint64(opts.MaxBlocks) || total > uint64(opts.MaxBlocks) {
		return nil, fmt.Errorf("building cidrdb from %s and %s: %w: %d IPv4 /%d units and %d IPv6 blocks (mode %v, /%d), more than %d",
			cityPath, ispPath, ErrTooManyBlocks, count.n4, opts.Bits4, count.n6, opts.IPv6, opts.Bits6, opts.MaxBlocks)
	}
	emit := &cutter{opts: opts, emit: true, recs: make([]Record, 0, min(count.records, uint64(opts.MaxBlocks)))}
	overlay(city.spans, isp.spans, func(lo, hi u128, c, i int32) { emit.piece(lo, hi, place(city, isp, c, i)) })
	emit.finish()
	return emit.recs, nil
}

// geoLoc is what one geo record says: country and city for a City
// database, ISP name and ASN for an ISP or ASN one.
type geoLoc struct {
	a, b string
	asn  uint32
}

// geoTable is one geo database's networks in address order and their
// distinct records.
type geoTable struct {
	spans []span
	locs  []geoLoc
}

func decodeCity(res maxminddb.Result) (geoLoc, error) {
	var c cityRecord
	err := res.Decode(&c)
	return geoLoc{a: c.Country.ISOCode, b: c.City.Names.EN}, err
}

func decodeISP(res maxminddb.Result) (geoLoc, error) {
	var i ispRecord
	err := res.Decode(&i)
	if i.ISP == "" {
		i.ISP = i.ASOrg
	}
	return geoLoc{a: i.ISP, asn: i.ASN}, err
}

// place is the location of a piece covered by city record c and ISP record
// i, either -1 when that database does not cover it.
func place(city, isp *geoTable, c, i int32) Record {
	var r Record
	if c >= 0 {
		r.Country, r.City = city.locs[c].a, city.locs[c].b
	}
	if i >= 0 {
		r.ISP, r.ASN = isp.locs[i].a, isp.locs[i].asn
	}
	return r
}

// readGeo checks a geo database as Open does and walks it, decoding each distinct
// record once.
func readGeo(path string, fits func(string) bool, role string, ipv6 bool, decode func(maxminddb.Result) (geoLoc, error)) (*geoTable, error) {
	r, buf, err := readMMDB(path)
	if err != nil {
		return nil, fmt.Errorf("building cidrdb: reading %s: %w", path, err)
	}
	defer r.Close()
	if t := r.Metadata.DatabaseType; !fits(t) {
		return nil, fmt.Errorf("building cidrdb: reading %s: %w: database_type %q is not %s database", path, ErrWrongType, t, role)
	}
	if err := checkStructure(r, buf); err != nil {
		return nil, fmt.Errorf("building cidrdb: checking %s: %w", path, err)
	}
	t := &geoTable{}
	byOffset := map[uintptr]int32{}
	excluded := excludedIPv6()
	for res := range r.Networks() {
		p := res.Prefix()
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("building cidrdb: reading %s at %s: %w", path, p, err)
		}
		if p.Addr().Is6() && !ipv6 {
			continue
		}
		v, ok := byOffset[res.Offset()]
		if !ok {
			loc, err := decode(res)
			if err != nil {
				return nil, fmt.Errorf("building cidrdb: decoding %s at %s: %w", path, p, err)
			}
			v = int32(len(t.locs))
			t.locs = append(t.locs, loc)
			byOffset[res.Offset()] = v
		}
		lo, hi := rangeOf(p)
		if p.Addr().Is4() {
			t.spans = append(t.spans, span{lo, hi, v})
		} else {
			t.spans = appendClipped(t.spans, span{lo, hi, v}, excluded)
		}
	}
	slices.SortFunc(t.spans, func(a, b span) int { return a.lo.compare(b.lo) })
	return t, nil
}

// excludedIPv6 are the IPv6 ranges that are IPv4 in an mmdb tree, in
// address order: ::/8 (holding the IPv4 subtree ::/96 and the alias
// ::ffff:0:0/96), Teredo 2001::/32 and 6to4 2002::/16.
func excludedIPv6() []span {
	var out []span
	for _, s := range []string{"::/8", "2001::/32", "2002::/16"} {
		lo, hi := rangeOf(netip.MustParsePrefix(s))
		out = append(out, span{lo: lo, hi: hi})
	}
	return out
}

// appendClipped appends what is left of s once the sorted ranges of
// excluded are cut out of it.
func appendClipped(out []span, s span, excluded []span) []span {
	for _, x := range excluded {
		if x.hi.less(s.lo) || s.hi.less(x.lo) {
			continue
		}
		if s.lo.less(x.lo) {
			out = append(out, span{s.lo, x.lo.dec(), s.v})
		}
		next, ok := x.hi.inc()
		if !ok || s.hi.less(next) {
			return out
		}
		s.lo = next
	}
	return append(out, s)
}

// hostBits is the number of host bits of a unit of the family.
func (o BuildOptions) hostBits(is4 bool) int {
	if is4 {
		return 32 - o.Bits4
	}
	return 128 - o.Bits6
}

// snap widens sorted spans to whole units and gives each unit to the first
// span that touches it, the one holding the lowest address of the unit that
// the database covers. Adjacent results of one value are joined.
func (o BuildOptions) snap(spans []span) []span {
	out := make([]span, 0, len(spans))
	var last u128 // last address of out
	for _, s := range spans {
		m := mask(o.hostBits(isMapped4(s.lo)))
		start, end := s.lo.and(m.not()), s.hi.or(m)
		if len(out) > 0 && !last.less(start) {
			if !last.less(end) {
				continue // its units are taken
			}
			start, _ = last.inc() // cannot wrap: last < end
		}
		if next, _ := last.inc(); len(out) > 0 && out[len(out)-1].v == s.v && next == start {
			out[len(out)-1].hi = end
		} else {
			out = append(out, span{start, end, s.v})
		}
		last = end
	}
	return out
}

// cutter turns the pieces of the overlay into blocks. A build runs it
// twice: counting, so that one too big fails before it allocates, then
// emitting records.
type cutter struct {
	opts    BuildOptions
	emit    bool
	recs    []Record
	id      uint32 // last block id given
	n4, n6  uint64 // blocks so far (saturating)
	records uint64 // records so far (saturating)
	run     geoRun
}

// geoRun is the IPv6Geo block being extended by adjacent pieces placed
// alike.
type geoRun struct {
	open   bool
	lo, hi u128
	loc    Record
}

// piece makes blocks of [start, end], whole units located at loc.
func (c *cutter) piece(start, end u128, loc Record) {
	is4 := isMapped4(start)
	host := c.opts.hostBits(is4)
	if is4 || c.opts.IPv6 == IPv6Units {
		c.units(start, end, host, is4, loc)
		return
	}
	if next, _ := c.run.hi.inc(); c.run.open && c.run.loc == loc && next == start {
		c.run.hi = end
		return
	}
	c.flush()
	c.run = geoRun{open: true, lo: start, hi: end, loc: loc}
}

// units makes every unit of 2^host addresses in [start, end] a block.
func (c *cutter) units(start, end u128, host int, is4 bool, loc Record) {
	n := satAdd(end.sub(start).rsh(host).sat64(), 1)
	c.records = satAdd(c.records, n)
	if is4 {
		c.n4 = satAdd(c.n4, n)
	} else {
		c.n6 = satAdd(c.n6, n)
	}
	if !c.emit {
		return
	}
	width := 128
	if is4 {
		width = 32
	}
	for u := start; ; {
		c.id++
		c.add(netip.PrefixFrom(u.addr(is4), width-host), loc)
		last := u.or(mask(host))
		if last == end {
			return
		}
		u, _ = last.inc()
	}
}

// flush ends the open IPv6Geo run: one block for each /16 it touches
// (no CIDRDB network is wider than MinBitsIPv6, and the writer would join
// sibling networks of one block into a wider one), as many records as it
// takes prefixes to cover each.
func (c *cutter) flush() {
	if !c.run.open {
		return
	}
	c.run.open = false
	for lo := c.run.lo; ; {
		hi := min128(lo.or(mask(128-MinBitsIPv6)), c.run.hi)
		c.n6 = satAdd(c.n6, 1)
		nets := rangePrefixes(lo, hi, false)
		c.records = satAdd(c.records, uint64(len(nets)))
		if c.emit {
			c.id++
			for _, p := range nets {
				c.add(p, c.run.loc)
			}
		}
		if hi == c.run.hi {
			return
		}
		lo, _ = hi.inc()
	}
}

func (c *cutter) finish() { c.flush() }

func (c *cutter) add(p netip.Prefix, loc Record) {
	loc.Network, loc.BlockID = p, c.id
	c.recs = append(c.recs, loc)
}
