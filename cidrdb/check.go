package cidrdb

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/oschwald/maxminddb-golang/v2"
)

// What Open checks in every database, CIDRDB or geo, instead of
// maxminddb's Reader.Verify: Verify is stricter than the MaxMind DB format
// (it requires a non-empty description, which the format lets a writer
// leave undefined, and refuses any binary_format_minor_version but 0), so
// files written by other tools were refused for metadata nobody reads.
// These checks keep what reading depends on:
//
//   - the format: binary_format_major_version 2, ip_version 4 or 6,
//     record_size 24, 28 or 32, a non-zero node_count and the 16 zero bytes
//     between the search tree and the data section;
//   - the search tree, node by node in one pass over its nodes: every
//     pointer is a node, "no data" or a record inside the data section; no
//     path is longer than the address (128 bits, 32 in an IPv4 tree); it
//     is a tree: no node is reached twice, except the IPv4 subtree of an
//     IPv6 tree through its aliases (::ffff:0:0/96, 2001::/32, 2002::/16),
//     which maxminddb's Networks skips; and node_count is the number of
//     nodes the tree has (a larger one is a mis-sized or corrupt file). So walking every network (what Open
//     does next, decoding every record) costs at most node_count + 1
//     networks, whatever the bytes say; a tree whose nodes are shared would
//     enumerate up to 2^128 of them.
//
// Description, languages, build_epoch and any other metadata are not
// required.

// metadataMarker starts the metadata section of a MaxMind DB file.
var metadataMarker = []byte("\xab\xcd\xefMaxMind.com")

// dataSeparatorSize is the number of zero bytes between the search tree
// and the data section.
const dataSeparatorSize = 16

// ErrFormat reports a database whose structure is broken: bad metadata
// values, a search tree that does not hold together, a record that cannot
// be decoded.
var ErrFormat = errors.New("malformed database")

// readMMDB reads the MaxMind DB at path into memory and opens it, so that
// the checked bytes are the ones served even if the file is later
// rewritten in place. The error does not name the file: callers do.
func readMMDB(path string) (*maxminddb.Reader, []byte, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	r, err := maxminddb.OpenBytes(buf)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return r, buf, nil
}

// checkStructure checks r's format and search tree (see above); buf is the
// file r was opened from.
func checkStructure(r *maxminddb.Reader, buf []byte) error {
	m := r.Metadata
	if m.BinaryFormatMajorVersion != 2 {
		return fmt.Errorf("%w: binary_format_major_version %d, want 2", ErrFormat, m.BinaryFormatMajorVersion)
	}
	if m.IPVersion != 4 && m.IPVersion != 6 {
		return fmt.Errorf("%w: ip_version %d, want 4 or 6", ErrFormat, m.IPVersion)
	}
	if m.RecordSize != 24 && m.RecordSize != 28 && m.RecordSize != 32 {
		return fmt.Errorf("%w: record_size %d, want 24, 28 or 32", ErrFormat, m.RecordSize)
	}
	if m.NodeCount == 0 {
		return fmt.Errorf("%w: node_count 0", ErrFormat)
	}
	// OpenBytes found the marker and checked that the tree and the
	// separator end before it, without overflow.
	treeSize := m.NodeCount * m.RecordSize / 4
	meta := uint(bytes.LastIndex(buf, metadataMarker))
	if meta < treeSize+dataSeparatorSize {
		return fmt.Errorf("%w: node_count %d does not fit the file", ErrFormat, m.NodeCount)
	}
	for _, b := range buf[treeSize : treeSize+dataSeparatorSize] {
		if b != 0 {
			return fmt.Errorf("%w: no data section separator after %d nodes: node_count or record_size is wrong",
				ErrFormat, m.NodeCount)
		}
	}
	t := tree{buf: buf, nodes: m.NodeCount, recordSize: m.RecordSize,
		dataSize: meta - treeSize - dataSeparatorSize, ipv4Start: noNode}
	return t.check(m.IPVersion == 6)
}

// noNode marks an IPv6 tree without an IPv4 subtree.
const noNode = ^uint(0)

// tree reads the search tree of an mmdb file.
type tree struct {
	buf        []byte
	nodes      uint // node_count
	recordSize uint
	dataSize   uint
	ipv4Start  uint // the node at ::/96 of an IPv6 tree, noNode if none
}

// children returns node's two records. The caller ensures node < t.nodes,
// which checkStructure has checked lies inside buf.
func (t *tree) children(node uint) (left, right uint) {
	switch t.recordSize {
	case 24:
		b := t.buf[node*6 : node*6+6]
		return uint(b[0])<<16 | uint(b[1])<<8 | uint(b[2]), uint(b[3])<<16 | uint(b[4])<<8 | uint(b[5])
	case 28:
		b := t.buf[node*7 : node*7+7]
		return uint(b[3]&0xf0)<<20 | uint(b[0])<<16 | uint(b[1])<<8 | uint(b[2]),
			uint(b[3]&0x0f)<<24 | uint(b[4])<<16 | uint(b[5])<<8 | uint(b[6])
	default: // 32
		b := t.buf[node*8 : node*8+8]
		return uint(b[0])<<24 | uint(b[1])<<16 | uint(b[2])<<8 | uint(b[3]),
			uint(b[4])<<24 | uint(b[5])<<16 | uint(b[6])<<8 | uint(b[7])
	}
}

// treeStep is a node still to check and the network it stands for, in
// the 128-bit space of an IPv6 tree (an IPv4 tree's networks sit at ::/96).
type treeStep struct {
	node uint
	ip   [16]byte
	bits int
}

// check walks the tree from its root once, iteratively, visiting each node
// at most once.
func (t *tree) check(ipv6 bool) error {
	start := 96 // an IPv4 tree's root stands for ::/96
	if ipv6 {
		start = 0
		// The IPv4 subtree is the node 96 zero bits below the root, as
		// maxminddb finds it.
		n := uint(0)
		for i := 0; i < 96 && n < t.nodes; i++ {
			n, _ = t.children(n)
		}
		if n < t.nodes && n != 0 { // maxminddb treats a subtree at the root as none
			t.ipv4Start = n
		}
	}
	seen := make([]uint64, (t.nodes+63)/64)
	seen[0] = 1
	reached := uint(1)
	stack := []treeStep{{node: 0, bits: start}}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		left, right := t.children(s.node)
		for bit, ptr := range [2]uint{left, right} {
			child := treeStep{node: ptr, ip: s.ip, bits: s.bits + 1}
			if bit == 1 {
				child.ip[s.bits/8] |= 0x80 >> (s.bits % 8)
			}
			switch {
			case ptr == t.nodes: // no data
			case ptr > t.nodes:
				if ptr < t.nodes+dataSeparatorSize || ptr-t.nodes-dataSeparatorSize >= t.dataSize {
					return fmt.Errorf("%w: search tree at %s points outside the data section", ErrFormat, child.prefix())
				}
			case ptr == t.ipv4Start && !inIPv4Subtree(child.ip):
				// An alias of the IPv4 subtree, checked through ::/96.
			case child.bits >= 128:
				return fmt.Errorf("%w: search tree at %s is deeper than an address", ErrFormat, child.prefix())
			case seen[ptr/64]&(1<<(ptr%64)) != 0:
				return fmt.Errorf("%w: search tree at %s reaches node %d a second time: not a tree", ErrFormat, child.prefix(), ptr)
			default:
				seen[ptr/64] |= 1 << (ptr % 64)
				reached++
				stack = append(stack, child)
			}
		}
	}
	if reached != t.nodes {
		return fmt.Errorf("%w: node_count is %d but the search tree has %d nodes", ErrFormat, t.nodes, reached)
	}
	return nil
}

// inIPv4Subtree reports whether ip is inside ::/96.
func inIPv4Subtree(ip [16]byte) bool { return [12]byte(ip[:12]) == [12]byte{} }

// prefix is the network s stands for, IPv4 inside ::/96.
func (s treeStep) prefix() netip.Prefix {
	if s.bits >= 96 && inIPv4Subtree(s.ip) {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(s.ip[12:])), s.bits-96)
	}
	return netip.PrefixFrom(netip.AddrFrom16(s.ip), s.bits)
}

// checkGeo walks every network of a checked geo database and decodes each
// distinct record once with decode, so that a record Locate would fail to
// read refuses the file here. It returns what decode kept of each record, by
// its offset in the data section, for Locate to read without decoding.
func checkGeo(r *maxminddb.Reader, decode func(maxminddb.Result) (geoFields, error)) (map[uintptr]geoFields, error) {
	decoded := map[uintptr]geoFields{}
	for res := range r.Networks() {
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("%w: reading the search tree at %s: %w", ErrFormat, res.Prefix(), err)
		}
		if _, ok := decoded[res.Offset()]; ok {
			continue
		}
		f, err := decode(res)
		if err != nil {
			return nil, fmt.Errorf("%w: network %s: decoding its record: %w", ErrFormat, res.Prefix(), err)
		}
		decoded[res.Offset()] = f
	}
	return decoded, nil
}

// geoFields is what Locate reads of a geo record: country and city of a City
// record, ISP and ASN of an ISP or ASN record.
type geoFields struct {
	country, city, isp string
	asn                uint32
}

func decodeCityRecord(res maxminddb.Result) (geoFields, error) {
	var c cityRecord
	err := res.Decode(&c)
	return geoFields{country: c.Country.ISOCode, city: c.City.Names.EN}, err
}

func decodeISPRecord(res maxminddb.Result) (geoFields, error) {
	var i ispRecord
	err := res.Decode(&i)
	f := geoFields{isp: i.ISP, asn: i.ASN}
	if f.isp == "" {
		f.isp = i.ASOrg
	}
	return f, err
}
