package cidrdb

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

// mmdbBuf is a writer mmdbtype values encode themselves into, without
// pointers: what mmdbwriter does for a data record, done by hand so a
// test can assemble metadata and files byte by byte.
type mmdbBuf struct{ bytes.Buffer }

func (b *mmdbBuf) WriteOrWritePointer(v mmdbtype.DataType) (int64, error) { return v.WriteTo(b) }

func encode(t testing.TB, v mmdbtype.DataType) []byte {
	t.Helper()
	var b mmdbBuf
	if _, err := v.WriteTo(&b); err != nil {
		t.Fatalf("encoding %v: %v", v, err)
	}
	return b.Bytes()
}

// metadataMap is m as a writer stores it, leaving out the optional keys
// that are empty.
func metadataMap(m maxminddb.Metadata) mmdbtype.Map {
	out := mmdbtype.Map{
		"binary_format_major_version": mmdbtype.Uint16(m.BinaryFormatMajorVersion),
		"binary_format_minor_version": mmdbtype.Uint16(m.BinaryFormatMinorVersion),
		"build_epoch":                 mmdbtype.Uint64(m.BuildEpoch),
		"database_type":               mmdbtype.String(m.DatabaseType),
		"ip_version":                  mmdbtype.Uint16(m.IPVersion),
		"node_count":                  mmdbtype.Uint32(m.NodeCount),
		"record_size":                 mmdbtype.Uint16(m.RecordSize),
	}
	if len(m.Description) > 0 {
		d := mmdbtype.Map{}
		for k, v := range m.Description {
			d[mmdbtype.String(k)] = mmdbtype.String(v)
		}
		out["description"] = d
	}
	return out
}

// rewriteMetadata replaces the metadata of the mmdb at path by its own,
// changed by edit: how another writer's metadata is made from ours.
func rewriteMetadata(t testing.TB, path string, edit func(mmdbtype.Map)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := maxminddb.OpenBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	m := metadataMap(r.Metadata)
	_ = r.Close()
	edit(m)
	i := bytes.LastIndex(b, metadataMarker) + len(metadataMarker)
	if err := os.WriteFile(path, append(b[:i:i], encode(t, m)...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rawMMDB assembles an mmdb file from 24-bit node records, a data section
// and metadata, with any shape of tree.
func rawMMDB(t testing.TB, nodes [][2]uint32, data []byte, meta mmdbtype.Map) []byte {
	t.Helper()
	var b []byte
	for _, n := range nodes {
		for _, p := range n {
			b = append(b, byte(p>>16), byte(p>>8), byte(p))
		}
	}
	b = append(b, make([]byte, dataSeparatorSize)...)
	b = append(b, data...)
	b = append(b, metadataMarker...)
	return append(b, encode(t, meta)...)
}

// rawMeta is the metadata of a raw CIDRDB with n nodes, description and
// all, so that nothing but its tree is wrong.
func rawMeta(n, ipVersion int) mmdbtype.Map {
	return mmdbtype.Map{
		"binary_format_major_version": mmdbtype.Uint16(2),
		"binary_format_minor_version": mmdbtype.Uint16(0),
		"build_epoch":                 mmdbtype.Uint64(1),
		"database_type":               mmdbtype.String(DatabaseType),
		"description":                 mmdbtype.Map{"en": mmdbtype.String("raw")},
		"ip_version":                  mmdbtype.Uint16(ipVersion),
		"node_count":                  mmdbtype.Uint32(n),
		"record_size":                 mmdbtype.Uint16(24),
	}
}

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// otherWriter writes the CIDRDB at path with mmdbwriter's options as given
// (a description unless opts has an empty one).
func otherWriter(opts mmdbwriter.Options, nets ...netValue) func(t testing.TB, path string) {
	return func(t testing.TB, path string) {
		t.Helper()
		opts.DatabaseType = DatabaseType
		opts.IncludeReservedNetworks = true
		if opts.Description == nil {
			opts.Description = map[string]string{"en": "written by another tool"}
		}
		if err := writeMMDBWith(path, opts, nets); err != nil {
			t.Fatal(err)
		}
	}
}

// ours writes the two-network CIDRDB below with our own writer's options,
// then edits its metadata.
func ours(edit func(mmdbtype.Map)) func(t testing.TB, path string) {
	return func(t testing.TB, path string) {
		t.Helper()
		if err := writeMMDB(path, DatabaseType, []netValue{v4Block1, v6Block2}); err != nil {
			t.Fatal(err)
		}
		rewriteMetadata(t, path, edit)
	}
}

var (
	v4Block1 = netValue{pfx("10.1.0.0/24"), cidrValue(1, "Beijing")}
	v6Block2 = netValue{pfx("2001:db8:1::/48"), cidrValue(2, "Beijing")}
)

// TestOpenOtherWriters opens CIDRDBs laid out as other tools write them.
// Those marked "refused before" were refused (or, for ::ffff:0:0/96, not
// served) before Open checked structure instead of calling maxminddb's
// Verify: a missing or empty description, a newer minor format version.
func TestOpenOtherWriters(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	extra := mmdbtype.Map{
		"block_id": mmdbtype.Uint32(1), "country": mmdbtype.String("CN"), "city": mmdbtype.String("Beijing"),
		"isp": mmdbtype.String("CT"), "asn": mmdbtype.Uint32(1),
		"note":     mmdbtype.String("written elsewhere"),
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(39.9), "names": mmdbtype.Slice{mmdbtype.String("x")}},
		"flags":    mmdbtype.Slice{mmdbtype.Bool(true), mmdbtype.Int32(-1)},
		"big":      &mmdbtype.Uint128{},
		"raw":      mmdbtype.Bytes{1, 2},
	}
	tests := []struct {
		name   string
		write  func(t testing.TB, path string)
		v6     bool   // the file holds block 2 at 2001:db8:1::/48
		city   string // block 1's city
		wantV4 string // block 1's network
	}{
		{"no description key (refused before)", ours(func(m mmdbtype.Map) { delete(m, "description") }), true, "Beijing", "10.1.0.0/24"},
		{"empty description (refused before)", otherWriter(mmdbwriter.Options{Description: map[string]string{}}, v4Block1, v6Block2), true, "Beijing", "10.1.0.0/24"},
		{"minor version 1 (refused before)", ours(func(m mmdbtype.Map) {
			m["binary_format_minor_version"] = mmdbtype.Uint16(1)
			delete(m, "build_epoch")
		}), true, "Beijing", "10.1.0.0/24"},
		{"IPv4 in ::ffff:0:0/96, no aliases (not served before)", otherWriter(mmdbwriter.Options{DisableIPv4Aliasing: true},
			netValue{pfx("::ffff:10.1.0.0/120"), cidrValue(1, "Beijing")}, v6Block2), true, "Beijing", "10.1.0.0/24"},
		{"IPv4 in ::/96, no aliases", otherWriter(mmdbwriter.Options{DisableIPv4Aliasing: true}, v4Block1, v6Block2), true, "Beijing", "10.1.0.0/24"},
		{"IPv4 tree", otherWriter(mmdbwriter.Options{IPVersion: 4}, v4Block1), false, "Beijing", "10.1.0.0/24"},
		{"record size 24", otherWriter(mmdbwriter.Options{RecordSize: 24}, v4Block1, v6Block2), true, "Beijing", "10.1.0.0/24"},
		{"record size 32", otherWriter(mmdbwriter.Options{RecordSize: 32}, v4Block1, v6Block2), true, "Beijing", "10.1.0.0/24"},
		{"unknown fields", otherWriter(mmdbwriter.Options{}, netValue{pfx("10.1.0.0/24"), extra}, v6Block2), true, "Beijing", "10.1.0.0/24"},
		{"only block_id", otherWriter(mmdbwriter.Options{},
			netValue{pfx("10.1.0.0/24"), mmdbtype.Map{"block_id": mmdbtype.Uint32(1)}}, v6Block2), true, "", "10.1.0.0/24"},
		{"integers of other widths", otherWriter(mmdbwriter.Options{},
			netValue{pfx("10.1.0.0/24"), mmdbtype.Map{"block_id": mmdbtype.Uint16(1), "asn": mmdbtype.Uint64(4134), "city": mmdbtype.String("Beijing")}},
			netValue{pfx("2001:db8:1::/48"), mmdbtype.Map{"block_id": mmdbtype.Int32(2), "asn": mmdbtype.Uint16(7)}}), true, "Beijing", "10.1.0.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "other.mmdb")
			tt.write(t, path)
			db, err := Open(Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: path})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer db.Close()
			loc := db.Locate(addr("10.1.0.77"))
			if loc.BlockID != 1 || loc.Network != pfx(tt.wantV4) || loc.Block != loc.Network || loc.City != tt.city {
				t.Errorf("Locate(10.1.0.77) = %+v, want block 1 at %s in %q", loc, tt.wantV4, tt.city)
			}
			if got := db.Locate(addr("10.1.1.1")); got.BlockID != 0 || got.City != "Beijing" {
				t.Errorf("Locate(10.1.1.1) = %+v, want no block, located by the geo databases", got)
			}
			if tt.v6 {
				if got := db.Locate(addr("2001:db8:1::9")); got.BlockID != 2 || got.Network != pfx("2001:db8:1::/48") {
					t.Errorf("Locate(2001:db8:1::9) = %+v, want block 2", got)
				}
			}
			recs, err := ReadFile(path)
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			if recs[0].Network != pfx(tt.wantV4) || recs[0].BlockID != 1 {
				t.Errorf("ReadFile[0] = %+v, want block 1 at %s", recs[0], tt.wantV4)
			}
		})
	}
}

// TestOpenRefusesWithReason checks what Open refuses, and that the error
// names the file, the network and the field or the part of the file at
// fault.
func TestOpenRefusesWithReason(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	raw := func(nets ...netValue) func(t *testing.T) string {
		return func(t *testing.T) string { return rawCIDRDB(t, nets...) }
	}
	rec := func(kv ...any) mmdbtype.Map {
		m := mmdbtype.Map{}
		for i := 0; i < len(kv); i += 2 {
			m[mmdbtype.String(kv[i].(string))] = kv[i+1].(mmdbtype.DataType)
		}
		return m
	}
	data := encode(t, cidrValue(1, "X"))
	tests := []struct {
		name    string
		file    func(t *testing.T) string
		want    error
		mention []string
	}{
		{"IPv4 network wider than /8", raw(netValue{pfx("10.0.0.0/7"), cidrValue(1, "X")}), ErrSchema, []string{"10.0.0.0/7", "wider"}},
		{"IPv6 network wider than /16", raw(netValue{pfx("2400::/15"), cidrValue(1, "X")}), ErrSchema, []string{"2400::/15", "wider"}},
		{"country a name", raw(netValue{pfx("10.0.0.0/24"), rec("block_id", mmdbtype.Uint32(1), "country", mmdbtype.String("China"))}),
			ErrSchema, []string{"10.0.0.0/24", "field country", "China"}},
		{"country lower case", raw(netValue{pfx("10.0.0.0/24"), rec("block_id", mmdbtype.Uint32(1), "country", mmdbtype.String("cn"))}),
			ErrSchema, []string{"field country"}},
		{"city not UTF-8", raw(netValue{pfx("10.0.0.0/24"), rec("block_id", mmdbtype.Uint32(1), "city", mmdbtype.String("\xff\xfe"))}),
			ErrSchema, []string{"10.0.0.0/24", "field city"}},
		{"city a number", raw(netValue{pfx("10.0.0.0/24"), rec("block_id", mmdbtype.Uint32(1), "city", mmdbtype.Uint32(3))}),
			ErrSchema, []string{"10.0.0.0/24", "field city", "a string"}},
		{"block_id a uint128", raw(netValue{pfx("10.0.0.0/24"), rec("block_id", &mmdbtype.Uint128{})}),
			ErrSchema, []string{"10.0.0.0/24", "field block_id"}},
		{"asn over 2^32", raw(netValue{pfx("10.0.0.0/24"), rec("block_id", mmdbtype.Uint32(1), "asn", mmdbtype.Uint64(1<<33))}),
			ErrSchema, []string{"10.0.0.0/24", "field asn"}},
		{"asn negative", raw(netValue{pfx("2001:db8::/32"), rec("block_id", mmdbtype.Uint32(1), "asn", mmdbtype.Int32(-3))}),
			ErrSchema, []string{"2001:db8::/32", "field asn", "-3"}},
		{"IPv4 in both ::/96 and ::ffff:0:0/96", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "both.mmdb")
			otherWriter(mmdbwriter.Options{DisableIPv4Aliasing: true}, v4Block1,
				netValue{pfx("::ffff:10.2.0.0/120"), cidrValue(3, "X")})(t, path)
			return path
		}, ErrSchema, []string{"::ffff:0:0/96", "10.1.0.0/24", "10.2.0.0/24"}},
		{"major version 3", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "v3.mmdb")
			ours(func(m mmdbtype.Map) { m["binary_format_major_version"] = mmdbtype.Uint16(3) })(t, path)
			return path
		}, ErrFormat, []string{"binary_format_major_version 3"}},
		{"no separator", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "sep.mmdb")
			ours(func(mmdbtype.Map) {})(t, path)
			b, _ := os.ReadFile(path)
			r, err := maxminddb.OpenBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			b[r.Metadata.NodeCount*r.Metadata.RecordSize/4+5] = 1
			return writeTemp(t, "sep.mmdb", b)
		}, ErrFormat, []string{"separator"}},
		{"node_count larger than the tree", func(t *testing.T) string {
			const n = 3 // the root's records are data; nodes 1 and 2 are never reached
			return writeTemp(t, "count.mmdb", rawMMDB(t, [][2]uint32{{n + 16, n + 16}, {0, 0}, {0, 0}}, data, rawMeta(int(n), 6)))
		}, ErrFormat, []string{"node_count is 3", "1 nodes"}},
		{"pointer past the data", func(t *testing.T) string {
			return writeTemp(t, "ptr.mmdb", rawMMDB(t, [][2]uint32{{1 + 16, 1 + 16 + 500}}, data, rawMeta(1, 6)))
		}, ErrFormat, []string{"8000::/1", "outside the data section"}},
		{"pointer into the separator", func(t *testing.T) string {
			return writeTemp(t, "sep2.mmdb", rawMMDB(t, [][2]uint32{{1 + 3, 1 + 16}}, data, rawMeta(1, 6)))
		}, ErrFormat, []string{"::/1", "outside the data section"}},
		{"cycle", func(t *testing.T) string {
			return writeTemp(t, "cycle.mmdb", rawMMDB(t, [][2]uint32{{1, 2 + 16}, {0, 2 + 16}}, data, rawMeta(2, 6)))
		}, ErrFormat, []string{"not a tree"}},
		{"IPv4 tree deeper than 32 bits", func(t *testing.T) string {
			const depth = 33
			var nodes [][2]uint32
			for i := range depth {
				nodes = append(nodes, [2]uint32{uint32(i + 1), depth})
			}
			nodes[depth-1] = [2]uint32{depth + 16, depth + 16}
			return writeTemp(t, "deep.mmdb", rawMMDB(t, nodes, data, rawMeta(depth, 4)))
		}, ErrFormat, []string{"0.0.0.0/32", "deeper than an address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.file(t)
			db, err := Open(Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: path})
			if err == nil {
				_ = db.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Open = %v, want %v", err, tt.want)
			}
			for _, m := range append([]string{path}, tt.mention...) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("Open = %q, want it to mention %q", err, m)
				}
			}
		})
	}
}

// TestOpenSharedSubtreesBounded opens a 300-byte CIDRDB whose 40 nodes
// each point both ways at the next: a valid-looking DAG (maxminddb's Verify
// accepts it) whose networks number 2^40. Walking it network by network
// never ended; the tree check refuses it at once.
func TestOpenSharedSubtreesBounded(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	const n = 40
	var nodes [][2]uint32
	for i := range n - 1 {
		nodes = append(nodes, [2]uint32{uint32(i + 1), uint32(i + 1)})
	}
	nodes = append(nodes, [2]uint32{n + 16, n})
	path := writeTemp(t, "dag.mmdb", rawMMDB(t, nodes, encode(t, cidrValue(1, "X")), rawMeta(n, 6)))
	done := make(chan error, 1)
	go func() {
		db, err := Open(Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: path})
		if err == nil {
			_ = db.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "not a tree") {
			t.Errorf("Open = %v, want ErrFormat: not a tree", err)
		}
	case <-time.After(time.Minute): // it takes microseconds; the old walk took forever
		t.Fatal("Open still walking the tree after a minute")
	}
}

// TestGeoWithoutDescription opens and builds from geo databases whose
// metadata has no description (BuildFromGeo called Verify, which refused
// them).
func TestGeoWithoutDescription(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	for _, p := range []string{g.city, g.isp} {
		rewriteMetadata(t, p, func(m mmdbtype.Map) { delete(m, "description") })
	}
	db, err := Open(Config{CityPath: g.city, ISPPath: g.isp})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if loc := db.Locate(addr("10.1.3.9")); loc.City != "Shanghai" || loc.ISP != "China Telecom" {
		t.Errorf("Locate = %+v, want Shanghai, China Telecom", loc)
	}
	recs, err := BuildFromGeo(g.city, g.isp, BuildOptions{Bits4: 16, IPv6: IPv6Off})
	if err != nil {
		t.Fatalf("BuildFromGeo: %v", err)
	}
	if len(recs) == 0 {
		t.Error("BuildFromGeo made no blocks")
	}
}

// TestOpenGeoRefusesUndecodable checks that a geo database with a record
// Locate cannot decode into the fields it reads is refused at Open, naming
// the file and the network: it used to open and locate that network as
// unknown.
func TestOpenGeoRefusesUndecodable(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	isp := filepath.Join(dir, "isp.mmdb")
	if err := writeMMDB(city, "GeoIP2-City", []netValue{
		{pfx("10.0.0.0/8"), mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("CN")}}},
		{pfx("192.0.2.0/24"), mmdbtype.Map{"city": mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.Uint32(7)}}}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := writeMMDB(isp, "GeoLite2-ASN", []netValue{
		{pfx("10.0.0.0/8"), mmdbtype.Map{"autonomous_system_number": mmdbtype.String("AS4134")}},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		cfg     Config
		mention []string
	}{
		{Config{CityPath: city, ISPPath: g.isp}, []string{city, "192.0.2.0/24", "geoip.city"}},
		{Config{CityPath: g.city, ISPPath: isp}, []string{isp, "10.0.0.0/8", "geoip.isp"}},
	} {
		_, err := Open(tt.cfg)
		if !errors.Is(err, ErrFormat) {
			t.Errorf("Open(%+v) = %v, want ErrFormat", tt.cfg, err)
			continue
		}
		for _, m := range tt.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("Open = %q, want it to mention %q", err, m)
			}
		}
	}
}

// TestWriteFileRefusesWhatOpenRefuses checks that WriteFile applies Open's
// rules, including to the networks as the writer will store them: it joins
// sibling networks of one record into their parent.
func TestWriteFileRefusesWhatOpenRefuses(t *testing.T) {
	t.Parallel()
	r := func(n string, id uint32, country string) Record {
		return Record{Network: pfx(n), BlockID: id, Country: country}
	}
	for _, tt := range []struct {
		name    string
		recs    []Record
		mention string
	}{
		{"IPv4 /7", []Record{r("10.0.0.0/7", 1, "CN")}, "wider"},
		{"IPv6 /12", []Record{r("2400::/12", 1, "CN")}, "wider"},
		{"country cn", []Record{r("10.0.0.0/24", 1, "cn")}, "field country"},
		{"two /8s of one block", []Record{r("10.0.0.0/8", 1, "CN"), r("11.0.0.0/8", 1, "CN")}, "joined as 10.0.0.0/7"},
		{"two /17s and a /16 of one block join to /16, then /15",
			[]Record{r("2400::/17", 1, ""), r("2400:8000::/17", 1, ""), r("2401::/16", 1, "")}, "joined as 2400::/15"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := WriteFile(filepath.Join(t.TempDir(), "w.mmdb"), tt.recs)
			if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("WriteFile = %v, want ErrSchema mentioning %q", err, tt.mention)
			}
		})
	}
	// Two sibling /8s of different blocks stay two networks.
	path := filepath.Join(t.TempDir(), "ok.mmdb")
	if err := WriteFile(path, []Record{r("10.0.0.0/8", 1, "CN"), r("11.0.0.0/8", 2, "CN")}); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if recs, err := ReadFile(path); err != nil || len(recs) != 2 {
		t.Errorf("ReadFile = %v, %v; want the two /8s", recs, err)
	}
}

// TestLiveReloadOtherWriterAndBadGeo reloads a CIDRDB written without a
// description (a reload used to reject it), then a corrupt geo database,
// which is rejected while the loaded ones keep serving.
func TestLiveReloadOtherWriterAndBadGeo(t *testing.T) {
	t.Parallel()
	l, cfg := newTestLive(t)
	if err := writeMMDB(cfg.CIDRDBPath, DatabaseType, []netValue{{pfx("10.1.5.0/24"), cidrValue(9, "Beijing")}}); err != nil {
		t.Fatal(err)
	}
	rewriteMetadata(t, cfg.CIDRDBPath, func(m mmdbtype.Map) { delete(m, "description") })
	if err := l.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := l.Locate(addr("10.1.5.9")).BlockID; got != 9 {
		t.Fatalf("after reload: block %d, want 9", got)
	}
	good, err := os.ReadFile(cfg.CityPath)
	if err != nil {
		t.Fatal(err)
	}
	before := l.Current()
	if err := os.WriteFile(cfg.CityPath, good[:len(good)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	err = l.Reload()
	if err == nil || !strings.Contains(err.Error(), cfg.CityPath) {
		t.Errorf("Reload with a truncated City database = %v, want an error naming it", err)
	}
	if l.Current() != before || l.Locate(addr("10.1.5.9")).BlockID != 9 || l.Locate(addr("10.1.3.9")).City != "Shanghai" {
		t.Error("a rejected reload changed what is served")
	}
}
