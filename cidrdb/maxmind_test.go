package cidrdb

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"
)

// maxmindDir holds MaxMind's own test databases (DESIGN.md §8), shared
// beside the repository; tests that need it skip when it is absent.
func maxmindDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "testdata", "maxmind")
	if _, err := os.Stat(filepath.Join(dir, "GeoIP2-City-Test.mmdb")); err != nil {
		t.Skipf("MaxMind test databases not available: %v", err)
	}
	return dir
}

// TestMaxMindInterop locates addresses found in MaxMind's test databases
// through both pairings the config allows: GeoIP2 City + ISP and GeoLite2
// City + ASN.
func TestMaxMindInterop(t *testing.T) {
	t.Parallel()
	dir := maxmindDir(t)
	open := func(city, isp string) *DB {
		db, err := Open(Config{CityPath: filepath.Join(dir, city), ISPPath: filepath.Join(dir, isp)})
		if err != nil {
			t.Fatalf("Open(%s, %s): %v", city, isp, err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	geoip2 := open("GeoIP2-City-Test.mmdb", "GeoIP2-ISP-Test.mmdb")
	geolite2 := open("GeoLite2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb")
	loc := func(a, block, country, city, isp string, asn uint32) Location {
		return Location{Addr: addr(a), Block: pfx(block), Network: pfx(block), Country: country, City: city, ISP: isp, ASN: asn}
	}
	tests := []struct {
		name string
		db   *DB
		addr string
		want Location
	}{
		{"GeoIP2 London", geoip2, "81.2.69.142", loc("81.2.69.142", "81.2.69.0/24", "GB", "London", "", 0)},
		{"GeoIP2 London IPv4-mapped", geoip2, "::ffff:81.2.69.142", loc("81.2.69.142", "81.2.69.0/24", "GB", "London", "", 0)},
		{"GeoIP2 Telstra", geoip2, "1.128.0.0", loc("1.128.0.0", "1.128.0.0/24", "", "", "Telstra Internet", 1221)},
		{"GeoIP2 Linkoping", geoip2, "89.160.20.112", loc("89.160.20.112", "89.160.20.0/24", "SE", "Linköping", "Bredband2 AB", 29518)},
		{"GeoIP2 Milton", geoip2, "216.160.83.56", loc("216.160.83.56", "216.160.83.0/24", "US", "Milton", "Century Link", 209)},
		{"GeoIP2 IPv6 Japan", geoip2, "2001:218::1", loc("2001:218::1", "2001:218::/56", "JP", "", "", 0)},
		{"GeoLite2 Telstra via ASN org", geolite2, "1.128.0.0", loc("1.128.0.0", "1.128.0.0/24", "", "", "Telstra Pty Ltd", 1221)},
		{"GeoLite2 Linkoping", geolite2, "89.160.20.112", loc("89.160.20.112", "89.160.20.0/24", "SE", "Linköping", "Bredband2 AB", 29518)},
		{"GeoLite2 Milton, ASN without org", geolite2, "216.160.83.56", loc("216.160.83.56", "216.160.83.0/24", "US", "Milton", "", 209)},
		{"GeoLite2 IPv6 San Diego", geolite2, "2001:480::1", loc("2001:480::1", "2001:480::/56", "US", "San Diego", "", 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.db.Locate(addr(tt.addr)); got != tt.want {
				t.Errorf("Locate(%s)\n got %+v\nwant %+v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestMaxMindWrongType(t *testing.T) {
	t.Parallel()
	dir := maxmindDir(t)
	p := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name string
		cfg  Config
		bad  string
	}{
		{"ASN db as city", Config{CityPath: p("GeoLite2-ASN-Test.mmdb"), ISPPath: p("GeoIP2-ISP-Test.mmdb")}, "GeoLite2-ASN-Test.mmdb"},
		{"ISP db as city", Config{CityPath: p("GeoIP2-ISP-Test.mmdb"), ISPPath: p("GeoIP2-ISP-Test.mmdb")}, "GeoIP2-ISP-Test.mmdb"},
		{"city db as isp", Config{CityPath: p("GeoIP2-City-Test.mmdb"), ISPPath: p("GeoLite2-City-Test.mmdb")}, "GeoLite2-City-Test.mmdb"},
		{"city db as cidrdb", Config{CityPath: p("GeoIP2-City-Test.mmdb"), ISPPath: p("GeoIP2-ISP-Test.mmdb"), CIDRDBPath: p("GeoLite2-City-Test.mmdb")}, "GeoLite2-City-Test.mmdb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Open(tt.cfg)
			if !errors.Is(err, ErrWrongType) || !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("Open = %v, want ErrWrongType naming %s", err, tt.bad)
			}
		})
	}
}

// lazyCorrupt lists the corrupt files that open fine in a role because
// maxminddb reads records lazily. GeoIP2-City-Test-Broken-Double-Format is a
// well-formed GeoIP2-City database with malformed doubles in its location
// data: only decoding a record finds them, and Locate then reports the
// record's fields as unknown. Every other (file, role) fails at Open.
func lazyCorrupt() map[string]bool {
	return map[string]bool{"GeoIP2-City-Test-Broken-Double-Format.mmdb as city": true}
}

func corruptFiles(t *testing.T, dir string) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(dir, "*.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	var bad []string
	for _, f := range all {
		b := strings.ToLower(filepath.Base(f))
		if strings.HasPrefix(b, "bad-") || strings.Contains(b, "broken") || strings.Contains(b, "invalid") {
			bad = append(bad, f)
		}
	}
	if len(bad) == 0 {
		t.Fatalf("no corrupt databases in %s", dir)
	}
	return bad
}

// TestMaxMindCorrupt passes every corrupt test database as the City, the
// ISP and the CIDRDB: Open refuses it naming the file, or, where maxminddb
// opens it lazily, Locate survives every network in it.
func TestMaxMindCorrupt(t *testing.T) {
	t.Parallel()
	dir := maxmindDir(t)
	city, isp := filepath.Join(dir, "GeoIP2-City-Test.mmdb"), filepath.Join(dir, "GeoIP2-ISP-Test.mmdb")
	lazy := lazyCorrupt()
	for _, bad := range corruptFiles(t, dir) {
		for role, cfg := range map[string]Config{
			"city":   {CityPath: bad, ISPPath: isp},
			"isp":    {CityPath: city, ISPPath: bad},
			"cidrdb": {CityPath: city, ISPPath: isp, CIDRDBPath: bad},
		} {
			name := fmt.Sprintf("%s as %s", filepath.Base(bad), role)
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				db, err := Open(cfg)
				if err != nil {
					if lazy[name] {
						t.Errorf("Open = %v; maxminddb used to open this lazily", err)
					}
					if !strings.Contains(err.Error(), bad) {
						t.Errorf("Open = %q, want it to name %s", err, bad)
					}
					return
				}
				defer db.Close()
				if !lazy[name] {
					t.Fatalf("Open succeeded, want an error")
				}
				for _, a := range networkAddrs(t, bad) {
					_ = db.Locate(a) // must not panic
				}
			})
		}
	}
}

// TestMaxMindBrokenDoubleCity pins what Locate answers from the City test
// database with broken doubles: records whose decoding fails are unknown,
// intact ones are read.
func TestMaxMindBrokenDoubleCity(t *testing.T) {
	t.Parallel()
	dir := maxmindDir(t)
	db, err := Open(Config{
		CityPath: filepath.Join(dir, "GeoIP2-City-Test-Broken-Double-Format.mmdb"),
		ISPPath:  filepath.Join(dir, "GeoIP2-ISP-Test.mmdb"),
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	if got := db.Locate(addr("81.2.69.142")); got.Country != "GB" || got.City != "London" {
		t.Errorf("intact record: Locate = %+v, want GB London", got)
	}
	if got := db.Locate(addr("89.160.20.112")); got.Country != "" || got.City != "" || got.ISP != "Bredband2 AB" {
		t.Errorf("broken record: Locate = %+v, want unknown country and city, ISP still from the ISP db", got)
	}
}

// networkAddrs lists the first and last address of every network in the
// mmdb at path, plus the zero address of both families.
func networkAddrs(t *testing.T, path string) []netip.Addr {
	t.Helper()
	r, err := maxminddb.Open(path)
	if err != nil {
		t.Fatalf("maxminddb.Open: %v", err)
	}
	defer r.Close()
	out := []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	for res := range r.Networks() {
		p := res.Prefix()
		if !p.IsValid() {
			continue
		}
		_, hi := rangeOf(p)
		out = append(out, p.Addr(), hi.addr(p.Addr().Is4()))
	}
	return out
}
