package cidrdb

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

// cityNet and ispNet are networks of a City and an ISP schema database.
func cityNet(n, country, city string) netValue {
	return netValue{pfx(n), mmdbtype.Map{
		"city":    mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(city)}},
		"country": mmdbtype.Map{"iso_code": mmdbtype.String(country)},
	}}
}

func ispNet(n, isp string, asn uint32) netValue {
	return netValue{pfx(n), mmdbtype.Map{
		"isp":                      mmdbtype.String(isp),
		"autonomous_system_number": mmdbtype.Uint32(asn),
	}}
}

// writeGeoPair writes a City and an ISP database holding the networks
// given, general first; aliasing false leaves the IPv4 aliases
// (::ffff:0:0/96, 2001::/32, 2002::/16) out of the trees so that IPv6
// networks can sit there.
func writeGeoPair(t *testing.T, city, isp []netValue, aliasing bool) (cityPath, ispPath string) {
	t.Helper()
	dir := t.TempDir()
	cityPath, ispPath = filepath.Join(dir, "city.mmdb"), filepath.Join(dir, "isp.mmdb")
	for _, f := range []struct {
		path, typ string
		nets      []netValue
	}{{cityPath, "GeoIP2-City", city}, {ispPath, "GeoIP2-ISP", isp}} {
		tree, err := mmdbwriter.New(mmdbwriter.Options{
			DatabaseType:            f.typ,
			Description:             map[string]string{"en": "test fixture"},
			IncludeReservedNetworks: true,
			DisableIPv4Aliasing:     !aliasing,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, nv := range f.nets {
			a := nv.net.Addr()
			if err := tree.Insert(&net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(nv.net.Bits(), a.BitLen())}, nv.value); err != nil {
				t.Fatalf("inserting %s: %v", nv.net, err)
			}
		}
		out, err := os.Create(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tree.WriteTo(out); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return cityPath, ispPath
}

func rec(n string, id uint32, country, city, isp string, asn uint32) Record {
	return Record{Network: pfx(n), BlockID: id, Country: country, City: city, ISP: isp, ASN: asn}
}

func TestBuildFromGeo(t *testing.T) {
	t.Parallel()
	elsewhere := []netValue{ispNet("192.0.2.0/24", "Example Net", 64500)}
	tests := []struct {
		name      string
		city, isp []netValue
		aliasing  bool
		opts      BuildOptions
		want      []Record
	}{
		{"units take both databases", []netValue{cityNet("10.0.0.0/22", "CN", "Beijing")},
			[]netValue{ispNet("10.0.0.0/23", "CT", 4134), ispNet("10.0.2.0/24", "CU", 4837)}, true, BuildOptions{},
			[]Record{
				rec("10.0.0.0/24", 1, "CN", "Beijing", "CT", 4134),
				rec("10.0.1.0/24", 2, "CN", "Beijing", "CT", 4134),
				rec("10.0.2.0/24", 3, "CN", "Beijing", "CU", 4837),
				rec("10.0.3.0/24", 4, "CN", "Beijing", "", 0), // the ISP database does not cover it
			}},
		{"a unit takes each database's lowest covered address", []netValue{
			cityNet("10.0.0.0/24", "CN", "Beijing"), cityNet("10.0.0.128/25", "CN", "Shanghai"),
			cityNet("10.0.1.128/25", "CN", "Xian"), cityNet("10.0.1.192/26", "CN", "Guangzhou"),
			{pfx("10.9.0.0/24"), mmdbtype.Map{}}, // a record without anything known
		}, append([]netValue{ispNet("10.0.1.0/24", "CT", 4134), ispNet("10.0.1.64/26", "CU", 4837)}, elsewhere...), true, BuildOptions{},
			[]Record{
				rec("10.0.0.0/24", 1, "CN", "Beijing", "", 0),
				rec("10.0.1.0/24", 2, "CN", "Xian", "CT", 4134),
				rec("10.9.0.0/24", 3, "", "", "", 0),
				rec("192.0.2.0/24", 4, "", "", "Example Net", 64500),
			}},
		{"Bits4", []netValue{cityNet("10.0.0.0/21", "CN", "Beijing")}, elsewhere, true, BuildOptions{Bits4: 22},
			[]Record{
				rec("10.0.0.0/22", 1, "CN", "Beijing", "", 0),
				rec("10.0.4.0/22", 2, "CN", "Beijing", "", 0),
				rec("192.0.0.0/22", 3, "", "", "Example Net", 64500),
			}},
		{"IPv6 runs placed alike are one block", []netValue{cityNet("2001:db8::/32", "CN", "Beijing")},
			[]netValue{ispNet("2001:db8::/33", "CT", 4134), ispNet("2001:db8:8000::/34", "CT", 4134), ispNet("2001:db8:c000::/34", "CU", 4837)},
			true, BuildOptions{},
			[]Record{
				rec("2001:db8::/33", 1, "CN", "Beijing", "CT", 4134),
				rec("2001:db8:8000::/34", 1, "CN", "Beijing", "CT", 4134),
				rec("2001:db8:c000::/34", 2, "CN", "Beijing", "CU", 4837),
			}},
		{"IPv6 no finer than Bits6", []netValue{
			cityNet("2001:db8:0:1::/64", "CN", "Beijing"), cityNet("2001:db8:0:100::/56", "CN", "Shanghai"),
			cityNet("2001:db8:0:200::/64", "CN", "Xian"), cityNet("2001:db8:0:201::/64", "CN", "Guangzhou"),
		}, nil, true, BuildOptions{},
			[]Record{
				rec("2001:db8::/56", 1, "CN", "Beijing", "", 0),
				rec("2001:db8:0:100::/56", 2, "CN", "Shanghai", "", 0),
				rec("2001:db8:0:200::/56", 3, "CN", "Xian", "", 0),
			}},
		{"IPv6 units", []netValue{cityNet("10.0.0.0/24", "CN", "Beijing"), cityNet("2001:db8::/47", "CN", "Beijing")},
			nil, true, BuildOptions{IPv6: IPv6Units, Bits6: 48},
			[]Record{
				rec("10.0.0.0/24", 1, "CN", "Beijing", "", 0),
				rec("2001:db8::/48", 2, "CN", "Beijing", "", 0),
				rec("2001:db8:1::/48", 3, "CN", "Beijing", "", 0),
			}},
		{"IPv6 off", []netValue{cityNet("10.0.0.0/24", "CN", "Beijing"), cityNet("2001:db8::/32", "CN", "Beijing")},
			nil, true, BuildOptions{IPv6: IPv6Off},
			[]Record{rec("10.0.0.0/24", 1, "CN", "Beijing", "", 0)}},
		{"IPv4 in disguise left out", []netValue{
			cityNet("::1:0:0/96", "ZZ", "Nowhere"), cityNet("2001::/31", "ZZ", "Teredo"), cityNet("2002::/15", "ZZ", "6to4"),
		}, elsewhere, false, BuildOptions{},
			[]Record{
				rec("192.0.2.0/24", 1, "", "", "Example Net", 64500),
				rec("2001:1::/32", 2, "ZZ", "Teredo", "", 0),
				rec("2003::/16", 3, "ZZ", "6to4", "", 0),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			city, isp := writeGeoPair(t, tt.city, tt.isp, tt.aliasing)
			got, err := BuildFromGeo(city, isp, tt.opts)
			if err != nil {
				t.Fatalf("BuildFromGeo: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("BuildFromGeo:\n got %v\nwant %v", got, tt.want)
			}
			path := filepath.Join(t.TempDir(), "cidr.mmdb")
			if err := WriteFile(path, got); err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			back, err := ReadFile(path)
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			if !reflect.DeepEqual(back, got) {
				t.Errorf("read back:\n got %v\nwant %v", back, got)
			}
		})
	}
}

func TestBuildFromGeoOptions(t *testing.T) {
	t.Parallel()
	city, isp := writeGeoPair(t, []netValue{cityNet("10.0.0.0/22", "CN", "Beijing"), cityNet("2001:db8::/32", "CN", "Beijing")}, nil, true)
	tests := []struct {
		name string
		opts BuildOptions
		want error
		says string
	}{
		{"MaxBlocks", BuildOptions{MaxBlocks: 4}, ErrTooManyBlocks, "4 IPv4 /24 units and 1 IPv6 blocks (mode geo, /56), more than 4"},
		{"IPv6 units", BuildOptions{IPv6: IPv6Units, Bits6: 64}, ErrTooManyBlocks, "4294967296 IPv6 blocks"},
		{"Bits4 too short", BuildOptions{Bits4: 7}, ErrBuildOptions, "Bits4 7"},
		{"Bits4 too long", BuildOptions{Bits4: 33}, ErrBuildOptions, "Bits4 33"},
		{"Bits6", BuildOptions{Bits6: 129}, ErrBuildOptions, "Bits6 129"},
		{"mode", BuildOptions{IPv6: 7}, ErrBuildOptions, "IPv6Mode(7)"},
		{"negative MaxBlocks", BuildOptions{MaxBlocks: -1}, ErrBuildOptions, "MaxBlocks -1"},
		{"MaxBlocks past block ids", BuildOptions{MaxBlocks: 1 << 32}, ErrBuildOptions, "MaxBlocks 4294967296"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, err := BuildFromGeo(city, isp, tt.opts)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("BuildFromGeo = %d records, %v; want %v saying %q", len(recs), err, tt.want, tt.says)
			}
		})
	}
	if recs, err := BuildFromGeo(city, isp, BuildOptions{MaxBlocks: 5}); err != nil || len(recs) != 5 {
		t.Errorf("BuildFromGeo with exactly MaxBlocks blocks = %d records, %v", len(recs), err)
	}
}

func TestIPv6ModeText(t *testing.T) {
	t.Parallel()
	for _, m := range []IPv6Mode{IPv6Geo, IPv6Units, IPv6Off} {
		b, err := m.MarshalText()
		var back IPv6Mode
		if err != nil || back.UnmarshalText(b) != nil || back != m {
			t.Errorf("%v: MarshalText = %q, %v; read back %v", m, b, err, back)
		}
	}
	var m IPv6Mode
	if err := m.UnmarshalText([]byte("both")); !errors.Is(err, ErrBuildOptions) {
		t.Errorf("UnmarshalText(both) = %v, want ErrBuildOptions", err)
	}
}

func TestBuildFromGeoBadInput(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.mmdb")
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not an mmdb at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mmdb")
	if b, err := os.ReadFile(g.city); err != nil || os.WriteFile(truncated, b[:len(b)*2/3], 0o644) != nil {
		t.Fatal("writing a truncated database")
	}
	cidr := filepath.Join(dir, "cidr.mmdb")
	if err := WriteFile(cidr, testBlocks()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, city, isp string
		want            error // errors.Is target; nil: any error
		names           string
	}{
		{"missing city", missing, g.isp, fs.ErrNotExist, missing},
		{"missing isp", g.city, missing, fs.ErrNotExist, missing},
		{"garbage", garbage, g.isp, nil, garbage},
		{"truncated", truncated, g.isp, nil, truncated},
		{"ISP db as city", g.isp, g.isp, ErrWrongType, g.isp},
		{"city db as isp", g.city, g.city, ErrWrongType, g.city},
		{"CIDRDB as city", cidr, g.asn, ErrWrongType, cidr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := BuildFromGeo(tt.city, tt.isp, BuildOptions{})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.names) {
				t.Errorf("BuildFromGeo = %v, want an error (%v) naming %s", err, tt.want, tt.names)
			}
		})
	}
}

// TestBuildFromMaxMind builds from MaxMind's own test databases, both
// pairings the config allows, and checks blocks against the rule: a unit
// (or an IPv6 run) takes each field from the lowest of its addresses that
// the field's database covers.
func TestBuildFromMaxMind(t *testing.T) {
	t.Parallel()
	dir := maxmindDir(t)
	for _, pair := range [][2]string{
		{"GeoIP2-City-Test.mmdb", "GeoIP2-ISP-Test.mmdb"},
		{"GeoLite2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb"},
	} {
		t.Run(pair[0], func(t *testing.T) {
			t.Parallel()
			city, isp := filepath.Join(dir, pair[0]), filepath.Join(dir, pair[1])
			recs, err := BuildFromGeo(city, isp, BuildOptions{})
			if err != nil {
				t.Fatalf("BuildFromGeo: %v", err)
			}
			geo, err := Open(Config{CityPath: city, ISPPath: isp})
			if err != nil {
				t.Fatal(err)
			}
			defer geo.Close()
			checked, blocks := 0, uint32(0)
			for i, r := range recs {
				if i > 0 && (!recs[i-1].Network.Addr().Less(r.Network.Addr()) || recs[i-1].Network.Overlaps(r.Network)) {
					t.Fatalf("records %v and %v out of order or overlapping", recs[i-1], r)
				}
				first := i == 0 || recs[i-1].BlockID != r.BlockID
				if first {
					if blocks++; r.BlockID != blocks {
						t.Fatalf("record %v: block ids are not 1..n in address order", r)
					}
				}
				if r.Network.Addr().Is4() && r.Network.Bits() != 24 {
					t.Fatalf("IPv4 record %v is not a /24 unit", r)
				}
				if !first || (r.Network.Addr().Is4() && i%97 != 0) {
					continue
				}
				var want Location
				if a, ok := lowestCovered(geo.city, r.Network); ok {
					l := geo.Locate(a)
					want.Country, want.City = l.Country, l.City
				}
				if a, ok := lowestCovered(geo.isp, r.Network); ok {
					l := geo.Locate(a)
					want.ISP, want.ASN = l.ISP, l.ASN
				}
				if want.Country != r.Country || want.City != r.City || want.ISP != r.ISP || want.ASN != r.ASN {
					t.Errorf("block %v: its lowest covered addresses place it at %+v", r, want)
				}
				checked++
			}
			if checked < 500 {
				t.Errorf("checked only %d blocks of %d records", checked, len(recs))
			}
		})
	}
}

// lowestCovered is the lowest address of p that r covers.
func lowestCovered(r *maxminddb.Reader, p netip.Prefix) (netip.Addr, bool) {
	for res := range r.NetworksWithin(p) {
		a := res.Prefix().Masked().Addr()
		if a.Less(p.Addr()) {
			a = p.Addr() // p lies inside the network
		}
		return a, true
	}
	return netip.Addr{}, false
}

// TestBuildFromMaxMindCorrupt passes every corrupt test database as the
// City and as the ISP database: the build fails naming it, and a coarse
// build of the good pair writes a CIDRDB that Open accepts.
func TestBuildFromMaxMindCorrupt(t *testing.T) {
	t.Parallel()
	dir := maxmindDir(t)
	city, isp := filepath.Join(dir, "GeoIP2-City-Test.mmdb"), filepath.Join(dir, "GeoIP2-ISP-Test.mmdb")
	for _, bad := range corruptFiles(t, dir) {
		for role, paths := range map[string][2]string{"city": {bad, isp}, "isp": {city, bad}} {
			t.Run(filepath.Base(bad)+" as "+role, func(t *testing.T) {
				t.Parallel()
				if _, err := BuildFromGeo(paths[0], paths[1], BuildOptions{}); err == nil || !strings.Contains(err.Error(), bad) {
					t.Errorf("BuildFromGeo = %v, want an error naming %s", err, bad)
				}
			})
		}
	}
	recs, err := BuildFromGeo(city, isp, BuildOptions{Bits4: 16, Bits6: 32})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cidr.mmdb")
	if err := WriteFile(path, recs); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	db, err := Open(Config{CityPath: city, ISPPath: isp, CIDRDBPath: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if last := recs[len(recs)-1].BlockID; db.Blocks() != int(last) {
		t.Errorf("Open found %d blocks, the build made %d", db.Blocks(), last)
	}
}
