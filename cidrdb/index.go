package cidrdb

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"

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
}

// blockSet checks that the networks of one block_id agree with each other
// and tracks each block's lowest network. Both the reader and WriteFile use
// it, so a file WriteFile accepts is a file Open accepts.
type blockSet map[uint32]*block

// add records that network p carries rec and returns rec's block.
func (s blockSet) add(p netip.Prefix, rec schemaRecord) (*block, error) {
	if rec.BlockID == 0 {
		return nil, fmt.Errorf("%w: network %s: block_id is 0 or missing", ErrSchema, p)
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

// walk checks r's type, verifies the whole file and calls fn for every
// network that carries data, with its decoded record.
func walk(r *maxminddb.Reader, fn func(p netip.Prefix, offset uintptr, rec schemaRecord) error) error {
	if t := r.Metadata.DatabaseType; t != DatabaseType {
		return fmt.Errorf("%w: database_type %q is not %q", ErrWrongType, t, DatabaseType)
	}
	if err := r.Verify(); err != nil {
		return fmt.Errorf("verifying: %w", err)
	}
	n := 0
	for res := range r.Networks() {
		var rec schemaRecord
		if err := res.Decode(&rec); err != nil {
			var typeErr maxminddb.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				return fmt.Errorf("%w: network %s: %w", ErrSchema, res.Prefix(), err)
			}
			return fmt.Errorf("decoding network %s: %w", res.Prefix(), err)
		}
		p := res.Prefix()
		if !p.IsValid() {
			return fmt.Errorf("%w: a network without a valid prefix", ErrSchema)
		}
		if err := fn(p, res.Offset(), rec); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return ErrEmpty
	}
	return nil
}

// loadIndex validates a CIDRDB and builds its index.
func loadIndex(r *maxminddb.Reader) (*index, error) {
	blocks := blockSet{}
	byOffset := map[uintptr]*block{}
	err := walk(r, func(p netip.Prefix, offset uintptr, rec schemaRecord) error {
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
	return &index{blocks: blocks, byOffset: byOffset, groups: groups}, nil
}

// ReadFile reads and validates a CIDRDB the way Open does and returns its
// records, one per network of the file's search tree, in address order
// (IPv4 first). A network may be wider than the one written when adjacent
// networks carried identical records and the writer merged them.
func ReadFile(path string) ([]Record, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading cidrdb %s: %w", path, err)
	}
	r, err := maxminddb.OpenBytes(buf)
	if err != nil {
		return nil, fmt.Errorf("reading cidrdb %s: %w", path, err)
	}
	defer r.Close()
	var recs []Record
	blocks := blockSet{}
	err = walk(r, func(p netip.Prefix, _ uintptr, rec schemaRecord) error {
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
