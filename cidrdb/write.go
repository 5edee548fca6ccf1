package cidrdb

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// description is the CIDRDB's metadata description (mmdbwriter refuses to
// verify a database without one).
const description = "HTTPDNS adaptive subnet library: network -> block_id, country, city, isp, asn"

// Record is one network of a CIDRDB and the block it belongs to.
type Record struct {
	// Network is the network; IPv4 networks may be given IPv4-mapped
	// (::ffff:a.b.c.d/120 is 1.2.3.0/24). Host bits are ignored.
	Network netip.Prefix
	// BlockID names the block; non-zero. Several networks may share one
	// (a block that is not CIDR-aligned) if they are all of one address
	// family and carry the same Country, City, ISP and ASN.
	BlockID uint32
	// Country is the ISO 3166 code, City the English name, ISP the ISP
	// name; each may be empty when unknown.
	Country, City, ISP string
	// ASN is the autonomous system number, 0 when unknown.
	ASN uint32
}

// WriteFile writes recs as a CIDRDB (IPv6 tree, IPv4 networks in ::/96 as
// usual for mmdb, reserved networks allowed) to path, atomically: it writes
// a temporary file beside path and renames it over path, so a reader never
// sees half a file. It refuses what Open would refuse (no records, a zero
// block_id, a block_id whose networks disagree) and overlapping networks.
func WriteFile(path string, recs []Record) error {
	tree, err := buildTree(recs)
	if err != nil {
		return fmt.Errorf("writing cidrdb %s: %w", path, err)
	}
	if err := writeAtomic(path, tree); err != nil {
		return fmt.Errorf("writing cidrdb %s: %w", path, err)
	}
	return nil
}

// buildTree validates recs and inserts them into a new mmdb tree.
func buildTree(recs []Record) (*mmdbwriter.Tree, error) {
	if len(recs) == 0 {
		return nil, ErrEmpty
	}
	norm, err := normalise(recs)
	if err != nil {
		return nil, err
	}
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            DatabaseType,
		Description:             map[string]string{"en": description},
		IncludeReservedNetworks: true,
		IPVersion:               6,
	})
	if err != nil {
		return nil, fmt.Errorf("creating tree: %w", err)
	}
	for _, r := range norm {
		p := r.Network
		ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := tree.Insert(ipnet, r.value()); err != nil {
			return nil, fmt.Errorf("inserting %s: %w", p, err)
		}
	}
	return tree, nil
}

// normalise returns recs with canonical networks, sorted by address, after
// checking them against the schema and each other.
func normalise(recs []Record) ([]Record, error) {
	// An IPv6 mmdb keeps its IPv4 networks in ::/96: IPv6 networks there
	// would read back as IPv4 ones, so they must be written as IPv4.
	ipv4Subtree := netip.PrefixFrom(netip.IPv6Unspecified(), 96)
	out := make([]Record, len(recs))
	blocks := blockSet{}
	for i, r := range recs {
		p := r.Network
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: record %d: invalid network", ErrSchema, i)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		if p.Addr().Is6() && p.Overlaps(ipv4Subtree) {
			return nil, fmt.Errorf("%w: network %s overlaps the IPv4 subtree %s; write IPv4 networks as IPv4",
				ErrSchema, p, ipv4Subtree)
		}
		r.Network = p
		if _, err := blocks.add(p, r.schema()); err != nil {
			return nil, err
		}
		out[i] = r
	}
	slices.SortFunc(out, func(a, b Record) int {
		if c := a.Network.Addr().Compare(b.Network.Addr()); c != 0 {
			return c
		}
		return a.Network.Bits() - b.Network.Bits()
	})
	// Networks are either disjoint or nested; sorted this way, any nesting
	// shows up between neighbours.
	for i := 1; i < len(out); i++ {
		if out[i-1].Network.Overlaps(out[i].Network) {
			return nil, fmt.Errorf("%w: networks %s and %s overlap", ErrSchema, out[i-1].Network, out[i].Network)
		}
	}
	if err := checkJoined(out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkJoined checks sorted, disjoint networks as the file will hold them:
// the writer joins two sibling networks that carry the same record into
// their parent, again and again, and Open reads the parent. A join wider
// than MinBitsIPv4 or MinBitsIPv6 would make a file Open refuses.
func checkJoined(sorted []Record) error {
	var stack []Record
	for _, r := range sorted {
		stack = append(stack, r)
		for len(stack) >= 2 {
			a, b := stack[len(stack)-2], stack[len(stack)-1]
			bits := a.Network.Bits()
			if bits == 0 || b.Network.Bits() != bits || a.schema() != b.schema() {
				break
			}
			parent, _ := a.Network.Addr().Prefix(bits - 1)
			if parent.Addr() != a.Network.Addr() || !parent.Contains(b.Network.Addr()) {
				break // not siblings: a is not the left child of b's parent
			}
			if err := a.schema().check(parent); err != nil {
				return fmt.Errorf("%w: networks %s and %s of block_id %d would be stored joined as %s: %w",
					ErrSchema, a.Network, b.Network, a.BlockID, parent, err)
			}
			a.Network = parent
			stack = append(stack[:len(stack)-2], a)
		}
	}
	return nil
}

func (r Record) schema() schemaRecord {
	return schemaRecord{BlockID: r.BlockID, Country: r.Country, City: r.City, ISP: r.ISP, ASN: r.ASN}
}

// value is the record as stored: every schema key, always present.
func (r Record) value() mmdbtype.Map {
	return mmdbtype.Map{
		"block_id": mmdbtype.Uint32(r.BlockID),
		"country":  mmdbtype.String(r.Country),
		"city":     mmdbtype.String(r.City),
		"isp":      mmdbtype.String(r.ISP),
		"asn":      mmdbtype.Uint32(r.ASN),
	}
}

// writeAtomic writes tree to a temporary file in path's directory, syncs
// it and renames it to path.
func writeAtomic(path string, tree *mmdbwriter.Tree) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriter(tmp)
	if _, err := tree.WriteTo(w); err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	if err := errors.Join(w.Flush(), tmp.Chmod(0o644), tmp.Sync()); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
