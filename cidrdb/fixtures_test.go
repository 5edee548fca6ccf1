package cidrdb

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// geo is one network of the generated geo databases.
type geo struct {
	net                string
	country, city, isp string
	asn                uint32
}

// world returns the geo data most tests locate in. It uses documentation
// and private ranges, so nothing resembles a real allocation.
func world() []geo {
	return []geo{
		{"10.0.0.0/8", "CN", "Beijing", "China Telecom", 4134},
		{"10.1.3.0/24", "CN", "Shanghai", "China Telecom", 4134},
		{"10.2.5.0/24", "CN", "Shanghai", "China Telecom", 4134},
		{"10.3.0.0/16", "CN", "Xian", "China Telecom", 4134},
		{"10.3.10.0/24", "CN", "Guangzhou", "China Telecom", 4134},
		{"10.3.13.0/24", "CN", "Guangzhou", "China Telecom", 4134},
		{"192.0.2.0/24", "US", "Seattle", "Example Net", 64500},
		{"255.255.0.0/16", "ZZ", "Edge", "Edge ISP", 64501},
		{"2001:db8::/32", "CN", "Beijing", "China Unicom", 4837},
	}
}

// geoPaths are the generated City, ISP and ASN schema databases.
type geoPaths struct{ city, isp, asn string }

// writeGeo writes geos as GeoIP2-City, GeoIP2-ISP and GeoLite2-ASN
// databases into dir. Networks go in the order given: general first.
func writeGeo(dir string, geos []geo) (geoPaths, error) {
	p := geoPaths{
		city: filepath.Join(dir, "city.mmdb"),
		isp:  filepath.Join(dir, "isp.mmdb"),
		asn:  filepath.Join(dir, "asn.mmdb"),
	}
	var city, isp, asn []netValue
	for _, g := range geos {
		n := netip.MustParsePrefix(g.net)
		city = append(city, netValue{n, mmdbtype.Map{
			"city":    mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(g.city), "de": mmdbtype.String("x")}},
			"country": mmdbtype.Map{"iso_code": mmdbtype.String(g.country), "geoname_id": mmdbtype.Uint32(1)},
		}})
		isp = append(isp, netValue{n, mmdbtype.Map{
			"isp":                            mmdbtype.String(g.isp),
			"organization":                   mmdbtype.String(g.isp + " org"),
			"autonomous_system_number":       mmdbtype.Uint32(g.asn),
			"autonomous_system_organization": mmdbtype.String(g.isp + " AS"),
		}})
		asn = append(asn, netValue{n, mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(g.asn),
			"autonomous_system_organization": mmdbtype.String(g.isp + " AS"),
		}})
	}
	for _, f := range []struct {
		path, typ string
		nets      []netValue
	}{{p.city, "GeoIP2-City", city}, {p.isp, "GeoIP2-ISP", isp}, {p.asn, "GeoLite2-ASN", asn}} {
		if err := writeMMDB(f.path, f.typ, f.nets); err != nil {
			return geoPaths{}, err
		}
	}
	return p, nil
}

// netValue is one network and its record for writeMMDB.
type netValue struct {
	net   netip.Prefix
	value mmdbtype.DataType
}

// writeMMDB writes any mmdb with the given database_type: geo fixtures and
// CIDRDBs that break the schema in ways WriteFile refuses to.
func writeMMDB(path, dbType string, nets []netValue) error {
	return writeMMDBWith(path, mmdbwriter.Options{
		DatabaseType:            dbType,
		Description:             map[string]string{"en": "test fixture"},
		IncludeReservedNetworks: true,
	}, nets)
}

// writeMMDBWith writes nets with the writer's options as given: another
// tool's layout (no description, no IPv4 aliasing, an IPv4 tree, another
// record size).
func writeMMDBWith(path string, opts mmdbwriter.Options, nets []netValue) error {
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		return err
	}
	for _, nv := range nets {
		a := nv.net.Addr()
		ipnet := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(nv.net.Bits(), a.BitLen())}
		if err := tree.Insert(ipnet, nv.value); err != nil {
			return fmt.Errorf("inserting %s: %w", nv.net, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// mustGeo writes the world into a temporary directory.
func mustGeo(t testing.TB, geos []geo) geoPaths {
	t.Helper()
	p, err := writeGeo(t.TempDir(), geos)
	if err != nil {
		t.Fatalf("writing geo fixtures: %v", err)
	}
	return p
}

// testBlocks returns the CIDRDB most tests use, over the world above.
func testBlocks() []Record {
	return []Record{
		{Network: pfx("10.1.0.0/24"), BlockID: 1, Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134},
		// Block 2 is not CIDR-aligned: two /24s that no /23 covers.
		{Network: pfx("10.1.1.0/24"), BlockID: 2, Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134},
		{Network: pfx("10.1.2.0/24"), BlockID: 2, Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134},
		{Network: pfx("10.1.3.0/24"), BlockID: 4, Country: "CN", City: "Shanghai", ISP: "China Telecom", ASN: 4134},
		{Network: pfx("10.1.4.0/22"), BlockID: 3, Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134},
		{Network: pfx("10.0.200.0/24"), BlockID: 5, Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134},
		{Network: pfx("2001:db8:1::/48"), BlockID: 6, Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134},
		{Network: pfx("2001:db8:3::/48"), BlockID: 7, Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134},
		{Network: pfx("2001:db8:9::/48"), BlockID: 8, Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134},
	}
}

// openWorld opens the world's geo databases with recs as the CIDRDB
// (none when recs is nil).
func openWorld(t testing.TB, recs []Record) *DB {
	t.Helper()
	g := mustGeo(t, world())
	cfg := Config{CityPath: g.city, ISPPath: g.isp}
	if recs != nil {
		cfg.CIDRDBPath = filepath.Join(t.TempDir(), "cidr.mmdb")
		if err := WriteFile(cfg.CIDRDBPath, recs); err != nil {
			t.Fatalf("WriteFile: %v", err)
		}
	}
	db, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }
