package cidrdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"
)

// maxmindDir holds MaxMind's own test databases (docs/design.md §12), shared
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
// ISP and the CIDRDB: Open refuses each one, naming the file, and never
// panics. GeoIP2-City-Test-Broken-Double-Format used to open as the City
// database (maxminddb decodes lazily) and then located its broken networks
// as unknown; decoding every record at Open now refuses it.
func TestMaxMindCorrupt(t *testing.T) {
	t.Parallel()
	dir := maxmindDir(t)
	city, isp := filepath.Join(dir, "GeoIP2-City-Test.mmdb"), filepath.Join(dir, "GeoIP2-ISP-Test.mmdb")
	for _, bad := range corruptFiles(t, dir) {
		for role, cfg := range map[string]Config{
			"city":   {CityPath: bad, ISPPath: isp},
			"isp":    {CityPath: city, ISPPath: bad},
			"cidrdb": {CityPath: city, ISPPath: isp, CIDRDBPath: bad},
		} {
			t.Run(fmt.Sprintf("%s as %s", filepath.Base(bad), role), func(t *testing.T) {
				t.Parallel()
				db, err := Open(cfg)
				if err == nil {
					_ = db.Close()
					t.Fatalf("Open succeeded, want an error")
				}
				if !strings.Contains(err.Error(), bad) {
					t.Errorf("Open = %q, want it to name %s", err, bad)
				}
			})
		}
	}
}

// TestCheckCorruptStructure runs the structural check alone on every
// corrupt test database, whatever its type (most are of type "Test", which
// Open refuses before looking inside): reading it whole, records decoded
// into any, fails with ErrFormat and never panics.
func TestCheckCorruptStructure(t *testing.T) {
	t.Parallel()
	for _, bad := range corruptFiles(t, maxmindDir(t)) {
		t.Run(filepath.Base(bad), func(t *testing.T) {
			t.Parallel()
			r, buf, err := readMMDB(bad)
			if err == nil {
				defer r.Close()
				if err = checkStructure(r, buf); err == nil {
					_, err = checkGeo(r, func(res maxminddb.Result) (geoFields, error) {
						var v any
						return geoFields{}, res.Decode(&v)
					})
				}
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("checking %s = %v, want ErrFormat", filepath.Base(bad), err)
			}
			t.Logf("%v", err)
		})
	}
}

// TestMaxMindBrokenDoubleCity pins the message for the City test database
// with malformed doubles: it names the file, the network whose record fails
// to decode, and the decoder's reason.
func TestMaxMindBrokenDoubleCity(t *testing.T) {
	t.Parallel()
	dir := maxmindDir(t)
	bad := filepath.Join(dir, "GeoIP2-City-Test-Broken-Double-Format.mmdb")
	_, err := Open(Config{CityPath: bad, ISPPath: filepath.Join(dir, "GeoIP2-ISP-Test.mmdb")})
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("Open = %v, want ErrFormat", err)
	}
	for _, want := range []string{bad, "network ", "Float64"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open = %q, want it to mention %q", err, want)
		}
	}
}

// TestMaxMindGoodReload opens every good MaxMind test database in each role
// it fits, through a Live, and reloads it: each loads, and a reload that
// replaces one with a corrupt file keeps the good one serving.
func TestMaxMindGoodReload(t *testing.T) {
	t.Parallel()
	dir := maxmindDir(t)
	cities := []string{"GeoIP2-City-Test.mmdb", "GeoLite2-City-Test.mmdb"}
	isps := []string{"GeoIP2-ISP-Test.mmdb", "GeoLite2-ASN-Test.mmdb"}
	corrupt := corruptFiles(t, dir)
	for _, c := range cities {
		for _, i := range isps {
			t.Run(c+"+"+i, func(t *testing.T) {
				t.Parallel()
				tmp := t.TempDir()
				cfg := Config{CityPath: filepath.Join(tmp, "city.mmdb"), ISPPath: filepath.Join(tmp, "isp.mmdb")}
				copyFile(t, filepath.Join(dir, c), cfg.CityPath)
				copyFile(t, filepath.Join(dir, i), cfg.ISPPath)
				l, err := NewLive(cfg, LiveOptions{})
				if err != nil {
					t.Fatalf("NewLive: %v", err)
				}
				defer l.Close()
				want := l.Locate(addr("89.160.20.112"))
				if want.Country != "SE" || want.ASN != 29518 {
					t.Fatalf("Locate = %+v, want SE and AS29518", want)
				}
				if err := l.Reload(); err != nil {
					t.Fatalf("Reload of the same files: %v", err)
				}
				for _, target := range []string{cfg.CityPath, cfg.ISPPath} {
					good, err := os.ReadFile(target)
					if err != nil {
						t.Fatal(err)
					}
					for _, bad := range corrupt {
						copyFile(t, bad, target)
						before := l.Current()
						if err := l.Reload(); err == nil || !strings.Contains(err.Error(), target) {
							t.Errorf("Reload with %s as %s = %v, want an error naming it", filepath.Base(bad), target, err)
						}
						if l.Current() != before || l.Locate(addr("89.160.20.112")) != want {
							t.Errorf("a rejected reload (%s) changed what is served", filepath.Base(bad))
						}
					}
					if err := os.WriteFile(target, good, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
