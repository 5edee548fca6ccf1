package cidrdb

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
)

// benchDB opens a CIDRDB of 4096 blocks, a quarter of them two networks
// that no single CIDR covers, over the test world's geo databases, and
// returns addresses spread over all of them.
func benchDB(b *testing.B) (*DB, []netip.Addr) {
	b.Helper()
	var recs []Record
	for i := range 4096 {
		n := netip.AddrFrom4([4]byte{10, byte(64 + i/256), byte(i % 256), 0})
		id := uint32(i + 1)
		if i%4 == 2 { // blocks 1,2 mod 4 pair up: x.x.1+4k.0 and x.x.2+4k.0
			id--
		}
		recs = append(recs, Record{Network: netip.PrefixFrom(n, 24), BlockID: id,
			Country: "CN", City: fmt.Sprintf("city-%d", id%37), ISP: "China Telecom", ASN: 4134})
	}
	g := mustGeo(b, world())
	path := filepath.Join(b.TempDir(), "cidr.mmdb")
	if err := WriteFile(path, recs); err != nil {
		b.Fatal(err)
	}
	db, err := Open(Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: path})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	addrs := make([]netip.Addr, 0, len(recs))
	for i, r := range recs {
		a := r.Network.Addr().As4()
		a[3] = byte(i * 7)
		addrs = append(addrs, netip.AddrFrom4(a))
	}
	return db, addrs
}

// BenchmarkLocate measures the resolver's hot path: locating an address
// inside the CIDRDB.
//
//	go test ./cidrdb -run '^$' -bench 'BenchmarkLocate' -benchmem
func BenchmarkLocate(b *testing.B) {
	db, addrs := benchDB(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if db.Locate(addrs[i%len(addrs)]).BlockID == 0 {
			b.Fatal("address outside the CIDRDB")
		}
		i++
	}
}

// BenchmarkLocateParallel is BenchmarkLocate from every core at once.
func BenchmarkLocateParallel(b *testing.B) {
	db, addrs := benchDB(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_ = db.Locate(addrs[i%len(addrs)])
			i++
		}
	})
}

// BenchmarkLocateGeo measures the fallback: an address outside the CIDRDB,
// located by decoding the City and ISP records.
func BenchmarkLocateGeo(b *testing.B) {
	db, _ := benchDB(b)
	a := addr("192.0.2.9")
	b.ReportAllocs()
	for b.Loop() {
		if db.Locate(a).City != "Seattle" {
			b.Fatal("wrong city")
		}
	}
}

// BenchmarkSiblings measures a sibling lookup in the CIDRDB index.
func BenchmarkSiblings(b *testing.B) {
	db, addrs := benchDB(b)
	loc := db.Locate(addrs[len(addrs)/2])
	b.ReportAllocs()
	for b.Loop() {
		if len(db.Siblings(loc, 8)) != 8 {
			b.Fatal("want 8 siblings")
		}
	}
}

// BenchmarkOpen measures opening (verifying, walking and indexing) a
// CIDRDB of 2^16 /24 blocks: the cost of a reload.
//
//	go test ./cidrdb -run '^$' -bench 'BenchmarkOpen' -benchmem
func BenchmarkOpen(b *testing.B) {
	recs := make([]Record, 0, 1<<16)
	for i := range 1 << 16 {
		n := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})
		recs = append(recs, Record{Network: netip.PrefixFrom(n, 24), BlockID: uint32(i + 1),
			Country: "CN", City: fmt.Sprintf("city-%d", i%300), ISP: fmt.Sprintf("isp-%d", i%5), ASN: uint32(i % 5)})
	}
	g := mustGeo(b, world())
	path := filepath.Join(b.TempDir(), "cidr.mmdb")
	if err := WriteFile(path, recs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		db, err := Open(Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: path})
		if err != nil {
			b.Fatal(err)
		}
		if db.Blocks() != len(recs) {
			b.Fatalf("Blocks() = %d, want %d", db.Blocks(), len(recs))
		}
		_ = db.Close()
	}
}

// bench100k writes a CIDRDB of 100,000 networks: 90,000 IPv4 /24s, every
// other pair of them one block that no CIDR covers, and 10,000 IPv6 /48s.
func bench100k(b *testing.B) string {
	b.Helper()
	recs := make([]Record, 0, 100_000)
	for i := range 90_000 {
		n := netip.AddrFrom4([4]byte{byte(20 + i>>16), byte(i >> 8), byte(i), 0})
		id := uint32(i + 1)
		if i%4 == 2 { // x.x.1+4k.0 and x.x.2+4k.0 share a block
			id--
		}
		recs = append(recs, Record{Network: netip.PrefixFrom(n, 24), BlockID: id,
			Country: "CN", City: fmt.Sprintf("city-%d", id%300), ISP: fmt.Sprintf("isp-%d", id%5), ASN: id % 5})
	}
	for i := range 10_000 {
		n := netip.AddrFrom16([16]byte{0x24, 0x08, byte(i >> 8), byte(i)})
		recs = append(recs, Record{Network: netip.PrefixFrom(n, 48), BlockID: uint32(100_000 + i),
			Country: "CN", City: fmt.Sprintf("city-%d", i%300), ISP: "isp-6", ASN: 6})
	}
	path := filepath.Join(b.TempDir(), "cidr100k.mmdb")
	if err := WriteFile(path, recs); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkCheckCIDRDB100k measures what a load or a reload of a
// 100,000-network CIDRDB costs: "tree" is the node-by-node tree check
// alone, "open" all of OpenCIDRDB (read, tree check, walking every network,
// decoding and checking every record, building the index).
//
//	go test ./cidrdb -run '^$' -bench 'BenchmarkCheckCIDRDB100k' -benchmem
func BenchmarkCheckCIDRDB100k(b *testing.B) {
	path := bench100k(b)
	b.Run("tree", func(b *testing.B) {
		r, buf, err := readMMDB(path)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		b.ReportAllocs()
		for b.Loop() {
			if err := checkStructure(r, buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(r.Metadata.NodeCount), "nodes")
	})
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			db, err := OpenCIDRDB(path)
			if err != nil {
				b.Fatal(err)
			}
			if db.Blocks() != 77_500 {
				b.Fatalf("Blocks() = %d, want 77500", db.Blocks())
			}
			_ = db.Close()
		}
		b.ReportMetric(100_000, "networks")
	})
}
