package cidrdb

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"unicode/utf8"

	"github.com/oschwald/maxminddb-golang/v2"
)

// schemaRecord is one CIDRDB data record as stored in the file.
type schemaRecord struct {
	BlockID uint32 `maxminddb:"block_id"`
	Country string `maxminddb:"country"`
	City    string `maxminddb:"city"`
	ISP     string `maxminddb:"isp"`
	ASN     uint32 `maxminddb:"asn"`
}

// block is one CIDRDB block: its record, its canonical network and the
// address span its networks cover.
type block struct {
	rec    schemaRecord
	first  netip.Prefix // the lowest network carrying rec.BlockID
	lo, hi u128         // the block's first and last address
}

// groupKey groups the blocks that are siblings of each other: one address
// family, one country, city and ISP.
type groupKey struct {
	is4                bool
	country, city, isp string
}

func keyOf(is4 bool, country, city, isp string) groupKey {
	return groupKey{is4: is4, country: country, city: city, isp: isp}
}

// index is what Open learns from walking a CIDRDB: the block of every data
// record (by its offset in the file, so Locate decodes nothing) and the
// blocks of every group sorted by address, for Siblings.
type index struct {
	blocks   map[uint32]*block
	byOffset map[uintptr]*block
	groups   map[groupKey][]*block // each sorted by address
	mapped4  bool                  // IPv4 networks sit in ::ffff:0:0/96 (walkInfo)
}

// blockSet checks that the networks of one block_id agree with each other
// and tracks each block's lowest network. Both the reader and WriteFile use
// it, so a file WriteFile accepts is a file Open accepts.
type blockSet map[uint32]*block

// Block sanity: no network of a block is wider than these. A wider one is
// a writer's mistake (a default route, a whole IPv6 /8 in one block), and
// one cache entry would then serve a sixteenth of the Internet.
const (
	// MinBitsIPv4 is the shortest prefix length of a CIDRDB IPv4 network.
	MinBitsIPv4 = 8
	// MinBitsIPv6 is the shortest prefix length of a CIDRDB IPv6 network.
	MinBitsIPv6 = 16
)

// add records that network p carries rec and returns rec's block.
func (s blockSet) add(p netip.Prefix, rec schemaRecord) (*block, error) {
	if err := rec.check(p); err != nil {
		return nil, fmt.Errorf("%w: network %s: %w", ErrSchema, p, err)
	}
	lo, hi := rangeOf(p)
	b, ok := s[rec.BlockID]
	if !ok {
		b = &block{rec: rec, first: p, lo: lo, hi: hi}
		s[rec.BlockID] = b
		return b, nil
	}
	if b.rec != rec {
		return nil, fmt.Errorf("%w: network %s: block_id %d carries %+v here but %+v at %s",
			ErrSchema, p, rec.BlockID, rec, b.rec, b.first)
	}
	if p.Addr().Is4() != b.first.Addr().Is4() {
		return nil, fmt.Errorf("%w: network %s: block_id %d mixes IPv4 and IPv6 (also at %s)",
			ErrSchema, p, rec.BlockID, b.first)
	}
	if lo.less(b.lo) {
		b.first, b.lo = p, lo
	}
	if b.hi.less(hi) {
		b.hi = hi
	}
	return b, nil
}

// check checks what one network and its record must hold on their own.
func (rec schemaRecord) check(p netip.Prefix) error {
	if rec.BlockID == 0 {
		return errors.New("field block_id: 0 or missing")
	}
	if p.Addr().Is4() && p.Bits() < MinBitsIPv4 || !p.Addr().Is4() && p.Bits() < MinBitsIPv6 {
		return fmt.Errorf("wider than /%d (IPv4) or /%d (IPv6)", MinBitsIPv4, MinBitsIPv6)
	}
	if c := rec.Country; c != "" && (len(c) != 2 || !isUpper(c[0]) || !isUpper(c[1])) {
		return fmt.Errorf("field country: %q is not an ISO 3166-1 alpha-2 code (two capital letters) or empty", c)
	}
	for _, f := range []struct{ key, v string }{{"city", rec.City}, {"isp", rec.ISP}} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("field %s: %q is not UTF-8", f.key, f.v)
		}
	}
	return nil
}

func isUpper(b byte) bool { return 'A' <= b && b <= 'Z' }

// walkInfo is what walk learns about a CIDRDB's layout.
type walkInfo struct {
	// mapped4 is set when the file keeps its IPv4 networks in
	// ::ffff:0:0/96 of an IPv6 tree without aliasing ::/96 to it, as some
	// writers do: Locate then looks IPv4 addresses up in their mapped form.
	mapped4 bool
}

// walk checks r's type and structure (buf is the file it was opened from)
// and calls fn for every network that carries data, with its decoded
// record. Each distinct record is decoded once. IPv4 networks are given as
// IPv4 whether the file keeps them in ::/96 or in ::ffff:0:0/96.
func walk(r *maxminddb.Reader, buf []byte, fn func(p netip.Prefix, offset uintptr, rec schemaRecord) error) (walkInfo, error) {
	var info walkInfo
	if t := r.Metadata.DatabaseType; t != DatabaseType {
		return info, fmt.Errorf("%w: database_type %q is not %q", ErrWrongType, t, DatabaseType)
	}
	if err := checkStructure(r, buf); err != nil {
		return info, err
	}
	decoded := map[uintptr]schemaRecord{}
	var plain4 netip.Prefix // an IPv4 network found in ::/96 (or an IPv4 tree)
	var mapped4 netip.Prefix
	for res := range r.Networks() {
		p := res.Prefix()
		if err := res.Err(); err != nil {
			return info, fmt.Errorf("%w: reading the search tree at %s: %w", ErrFormat, p, err)
		}
		if !p.IsValid() {
			return info, fmt.Errorf("%w: a network without a valid prefix", ErrFormat)
		}
		switch {
		case p.Addr().Is4In6() && p.Bits() >= 96:
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			mapped4 = p
		case p.Addr().Is4():
			plain4 = p
		}
		if plain4.IsValid() && mapped4.IsValid() {
			return info, fmt.Errorf("%w: IPv4 networks both in ::/96 (%s) and in ::ffff:0:0/96 (%s); write them in one",
				ErrSchema, plain4, mapped4)
		}
		rec, ok := decoded[res.Offset()]
		if !ok {
			var err error
			if rec, err = decodeRecord(res); err != nil {
				return info, fmt.Errorf("network %s: %w", p, err)
			}
			decoded[res.Offset()] = rec
		}
		if err := fn(p, res.Offset(), rec); err != nil {
			return info, err
		}
	}
	if len(decoded) == 0 {
		return info, ErrEmpty
	}
	info.mapped4 = mapped4.IsValid()
	return info, nil
}

// schemaFields are the CIDRDB record's keys and the types they may be
// stored as: an unsigned integer of any width (or a non-negative int32)
// whose value fits for uint32 fields, as mmdb writers pick the smallest
// encoding for a number.
var schemaFields = []struct {
	key  string
	fits func(any) bool
	want string
}{
	{"block_id", fitsUint32, "an unsigned integer below 2^32"},
	{"country", isString, "a string"},
	{"city", isString, "a string"},
	{"isp", isString, "a string"},
	{"asn", fitsUint32, "an unsigned integer below 2^32"},
}

func isString(v any) bool { _, ok := v.(string); return ok }

func fitsUint32(v any) bool {
	switch n := v.(type) {
	case uint64:
		return n <= math.MaxUint32
	case int32:
		return n >= 0
	}
	return false
}

// decodeRecord decodes one CIDRDB record. A value of the wrong type is
// an ErrSchema naming its key.
func decodeRecord(res maxminddb.Result) (schemaRecord, error) {
	var rec schemaRecord
	err := res.Decode(&rec)
	if err == nil {
		return rec, nil
	}
	var typeErr maxminddb.UnmarshalTypeError
	if !errors.As(err, &typeErr) {
		return rec, fmt.Errorf("%w: decoding its record: %w", ErrFormat, err)
	}
	// Find the key at fault: decoding to a generic map is only done for
	// the error message.
	var m map[string]any
	if res.Decode(&m) != nil {
		return rec, fmt.Errorf("%w: the record is not a map: %w", ErrSchema, err)
	}
	for _, f := range schemaFields {
		if v, ok := m[f.key]; ok && !f.fits(v) {
			return rec, fmt.Errorf("%w: field %s: %v (%T) is not %s", ErrSchema, f.key, v, v, f.want)
		}
	}
	return rec, fmt.Errorf("%w: %w", ErrSchema, err)
}

// loadIndex validates a CIDRDB (opened from buf) and builds its index.
func loadIndex(r *maxminddb.Reader, buf []byte) (*index, error) {
	blocks := blockSet{}
	byOffset := map[uintptr]*block{}
	info, err := walk(r, buf, func(p netip.Prefix, offset uintptr, rec schemaRecord) error {
		b, err := blocks.add(p, rec)
		if err != nil {
			return err
		}
		byOffset[offset] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	groups := map[groupKey][]*block{}
	for _, b := range blocks {
		k := keyOf(b.first.Addr().Is4(), b.rec.Country, b.rec.City, b.rec.ISP)
		groups[k] = append(groups[k], b)
	}
	for _, g := range groups {
		slices.SortFunc(g, func(a, b *block) int { return a.first.Addr().Compare(b.first.Addr()) })
	}
	return &index{blocks: blocks, byOffset: byOffset, groups: groups, mapped4: info.mapped4}, nil
}

// ReadFile reads and validates a CIDRDB the way Open does and returns its
// records, one per network of the file's search tree, in address order
// (IPv4 first). A network may be wider than the one written when adjacent
// networks carried identical records and the writer merged them.
func ReadFile(path string) ([]Record, error) {
	r, buf, err := readMMDB(path)
	if err != nil {
		return nil, fmt.Errorf("reading cidrdb %s: %w", path, err)
	}
	defer r.Close()
	var recs []Record
	blocks := blockSet{}
	_, err = walk(r, buf, func(p netip.Prefix, _ uintptr, rec schemaRecord) error {
		if _, err := blocks.add(p, rec); err != nil {
			return err
		}
		recs = append(recs, Record{Network: p, BlockID: rec.BlockID,
			Country: rec.Country, City: rec.City, ISP: rec.ISP, ASN: rec.ASN})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading cidrdb %s: %w", path, err)
	}
	slices.SortFunc(recs, func(a, b Record) int { return a.Network.Addr().Compare(b.Network.Addr()) })
	return recs, nil
}
