package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/internal/cdnsim"
)

// cidrdbWorld is the simulated world, its geo databases, a config naming
// them, and the CIDRDB "cidrdb build" made from them.
type cidrdbWorld struct {
	world           *cdnsim.World
	city, isp, conf string
	built           string // the built CIDRDB
	stdout          string // what the build printed
}

// newCIDRDBWorld writes the default simulated world's geo databases and a
// config into a temporary directory, and runs "cidrdb build" on them.
func newCIDRDBWorld(t *testing.T) *cidrdbWorld {
	t.Helper()
	dir := t.TempDir()
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cw := &cidrdbWorld{world: w, built: filepath.Join(dir, "built.mmdb")}
	if cw.city, cw.isp, err = w.WriteGeoDBs(dir); err != nil {
		t.Fatal(err)
	}
	cw.conf = writeGeoConfig(t, dir, cw.city, cw.isp)
	cw.stdout = runOK(t, "cidrdb", "build", "-config", cw.conf, "-out", cw.built)
	return cw
}

// writeGeoConfig writes a config into dir that needs nothing but the geo
// databases, and returns its path.
func writeGeoConfig(t *testing.T, dir, city, isp string) string {
	t.Helper()
	path := filepath.Join(dir, "httpdns.yaml")
	cfg := fmt.Sprintf("listen: 127.0.0.1:0\nupstreams: [\"127.0.0.1:53\"]\ngeoip: {city: %q, isp: %q}\n", city, isp)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runOK runs the command line and fails the test unless it succeeds.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q) = %v\nstderr: %s", args, err, stderr.String())
	}
	return stdout.String()
}

func TestCIDRDBBuildWorld(t *testing.T) {
	t.Parallel()
	cw := newCIDRDBWorld(t)
	w := cw.world
	db, err := cidrdb.Open(cidrdb.Config{CityPath: cw.city, ISPPath: cw.isp, CIDRDBPath: cw.built})
	if err != nil {
		t.Fatalf("Open(built): %v", err)
	}
	defer db.Close()
	subnets, regions := w.Subnets(), w.Regions()
	// One block per /24 of the world, and one per region's IPv6 /40: the
	// regions are distinct, so no two neighbouring /40s are located alike.
	if want := len(subnets) + len(regions); db.Blocks() != want {
		t.Errorf("Blocks = %d, want %d /24s + %d IPv6 /40s", db.Blocks(), len(subnets), len(regions))
	}
	wantLine := fmt.Sprintf("wrote %s: %d blocks (IPv4 %d, IPv6 %d) in %d networks from %s and %s\n",
		cw.built, len(subnets)+len(regions), len(subnets), len(regions), len(subnets)+len(regions), cw.city, cw.isp)
	if cw.stdout != wantLine {
		t.Errorf("build printed %q, want %q", cw.stdout, wantLine)
	}
	seen := map[uint32]bool{}
	for _, s := range subnets {
		a := w.ClientIn(s, 7)
		loc := db.Locate(a)
		geo, _ := w.GeoRegion(a)
		if loc.BlockID == 0 || seen[loc.BlockID] || loc.Block != s || loc.Network != s ||
			loc.Country != geo.Country || loc.City != geo.City || loc.ISP != geo.ISP || loc.ASN != geo.ASN {
			t.Fatalf("Locate(%v) = %+v, want a block of its own, %v, located like %+v", a, loc, s, geo)
		}
		seen[loc.BlockID] = true
	}
	for _, r := range regions {
		v6 := r.Prefixes[len(r.Prefixes)-1]
		if loc := db.Locate(v6.Addr().Next()); loc.Block != v6 || loc.City != r.City || loc.ISP != r.ISP {
			t.Errorf("Locate(%v) = %+v, want block %v of region %+v", v6.Addr().Next(), loc, v6, r)
		}
	}
}

func TestCIDRDBInspect(t *testing.T) {
	t.Parallel()
	cw := newCIDRDBWorld(t)
	s := cw.world.Subnets()[10]
	a := cw.world.ClientIn(s, 3)
	geo, _ := cw.world.GeoRegion(a)
	out := runOK(t, "cidrdb", "inspect", "-top", "3", cw.built, a.String(), "192.0.2.1", "::ffff:"+a.String())
	n := len(cw.world.Subnets()) + len(cw.world.Regions())
	for _, want := range []string{
		`(?m)^file:\s+` + regexp.QuoteMeta(cw.built) + `$`,
		`(?m)^database_type:\s+HTTPDNS-CIDRDB$`,
		`(?m)^description:\s+HTTPDNS adaptive subnet library`,
		`(?m)^build_time:\s+20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ$`,
		`(?m)^tree:\s+IPv6, \d+ nodes$`,
		fmt.Sprintf(`(?m)^networks:\s+%d$`, n),
		fmt.Sprintf(`(?m)^blocks:\s+%d \(IPv4 %d, IPv6 %d\)$`, n, n-len(cw.world.Regions()), len(cw.world.Regions())),
		`(?m)^blocks by city \(3 of 5\):$`,
		`(?m)^  IPv4 /24\s+\d+$`,
		`(?m)^  IPv6 /40\s+15$`,
		`(?m)^ADDR\s+BLOCK_ID\s+NETWORK\s+BLOCK\s+COUNTRY\s+CITY\s+ISP\s+ASN$`,
		fmt.Sprintf(`(?m)^%s\s+\d+\s+%s\s+%s\s+%s\s+%s\s+%s\s+%d$`, regexp.QuoteMeta(a.String()), s, s,
			geo.Country, geo.City, regexp.QuoteMeta(geo.ISP), geo.ASN),
		`(?m)^192\.0\.2\.1\s+-\s+-\s+192\.0\.2\.0/24\s+-\s+-\s+-\s+-$`,
		fmt.Sprintf(`(?m)^::ffff:%s\s+\d+\s+%s`, regexp.QuoteMeta(a.String()), s),
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("inspect output lacks %s:\n%s", want, out)
		}
	}
}

func TestCIDRDBDiff(t *testing.T) {
	t.Parallel()
	cw := newCIDRDBWorld(t)
	n := len(cw.world.Subnets()) + len(cw.world.Regions())
	self := runOK(t, "cidrdb", "diff", cw.built, cw.built)
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^unchanged\s+%d\s`, n)).MatchString(self) ||
		!regexp.MustCompile(`(?m)^merged\s+0\s`).MatchString(self) || strings.Contains(self, "for example") {
		t.Errorf("diff of a file against itself:\n%s", self)
	}
	// Merge the first two neighbouring /24s located alike into one block.
	recs, err := cidrdb.ReadFile(cw.built)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for ; i+1 < len(recs); i++ {
		a, b := recs[i], recs[i+1]
		if a.Network.Addr().Is4() && b.Network.Addr() == next24(a.Network.Addr()) && a.City == b.City && a.ISP == b.ISP {
			break
		}
	}
	merged := recs[i].Network.String() + " + " + recs[i+1].Network.String()
	recs[i+1].BlockID = recs[i].BlockID
	path := filepath.Join(t.TempDir(), "merged.mmdb")
	if err := cidrdb.WriteFile(path, recs); err != nil {
		t.Fatal(err)
	}
	text := runOK(t, "cidrdb", "diff", cw.built, path)
	for _, want := range []string{
		fmt.Sprintf(`(?m)^unchanged\s+%d\s`, n-2),
		`(?m)^merged\s+1\s+new blocks from 2 old blocks$`,
		`(?m)^merged, for example:\n  #\d+ ` + regexp.QuoteMeta(recs[i].Network.Addr().String()) + `/\d+ .* <- #\d+ ` +
			regexp.QuoteMeta(recs[i].Network.String()) + ` .*, #\d+ ` + regexp.QuoteMeta(recs[i+1].Network.String()),
	} {
		if !regexp.MustCompile(want).MatchString(text) {
			t.Errorf("diff after merging %s lacks %s:\n%s", merged, want, text)
		}
	}
	var rep cidrdb.DiffReport
	if err := json.Unmarshal([]byte(runOK(t, "cidrdb", "diff", "-json", cw.built, path)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Merged.Blocks != 1 || rep.Merged.OldBlocks != 2 || rep.Unchanged.Blocks != n-2 || rep.NewBlocks != n-1 {
		t.Errorf("diff -json = %+v", rep)
	}
}

// next24 is the address 256 past a.
func next24(a netip.Addr) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) + 256
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func TestCIDRDBErrors(t *testing.T) {
	t.Parallel()
	cw := newCIDRDBWorld(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.mmdb")
	garbage := filepath.Join(dir, "garbage.mmdb")
	truncated := filepath.Join(dir, "truncated.mmdb")
	b, err := os.ReadFile(cw.built)
	if err != nil || os.WriteFile(garbage, []byte("not an mmdb"), 0o644) != nil || os.WriteFile(truncated, b[:len(b)/2], 0o644) != nil {
		t.Fatal("writing bad files")
	}
	noCity := writeGeoConfig(t, t.TempDir(), missing, cw.isp)
	ispAsCity := writeGeoConfig(t, t.TempDir(), cw.isp, cw.isp)
	out := filepath.Join(dir, "out.mmdb")
	tests := []struct {
		name  string
		args  []string
		wrong bool   // the error is cidrdb.ErrWrongType
		names string // a file the error must name
	}{
		{"build: no config file", []string{"build", "-config", missing, "-out", out}, false, missing},
		{"build: no city database", []string{"build", "-config", noCity, "-out", out}, false, missing},
		{"build: ISP database as city", []string{"build", "-config", ispAsCity, "-out", out}, true, cw.isp},
		{"build: output directory missing", []string{"build", "-config", cw.conf, "-out", filepath.Join(missing, "x.mmdb")}, false, missing},
		{"build: too many blocks", []string{"build", "-config", cw.conf, "-out", out, "-ipv6", "units", "-bits6", "64"}, false, "try -ipv6 geo or off"},
		{"inspect: missing", []string{"inspect", missing}, false, missing},
		{"inspect: garbage", []string{"inspect", garbage}, false, garbage},
		{"inspect: truncated", []string{"inspect", truncated}, false, truncated},
		{"inspect: a City database", []string{"inspect", cw.city, "20.0.0.1"}, true, cw.city},
		{"diff: old missing", []string{"diff", missing, cw.built}, false, missing},
		{"diff: new is a City database", []string{"diff", cw.built, cw.city}, true, cw.city},
		{"diff: new truncated", []string{"diff", "-json", cw.built, truncated}, false, truncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), append([]string{"cidrdb"}, tt.args...), &stdout, &stderr)
			if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.names) ||
				errors.Is(err, cidrdb.ErrWrongType) != tt.wrong {
				t.Errorf("run = %v, want an error naming %s (wrong type: %v)", err, tt.names, tt.wrong)
			}
		})
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed build left %s behind: %v", out, err)
	}
}

func TestCIDRDBUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string // on stderr
	}{
		{nil, "no subcommand: want build, inspect, diff or publish"},
		{[]string{"frob"}, `unknown subcommand "frob"`},
		{[]string{"-x"}, "flag provided but not defined: -x"},
		{[]string{"build"}, "-config and -out are required"},
		{[]string{"build", "-config", "c.yaml", "-out", "o.mmdb", "extra"}, `unexpected argument "extra"`},
		{[]string{"build", "-config", "c.yaml", "-out", "o.mmdb", "-bits4", "7"}, "-bits4 7 is not in 8..32"},
		{[]string{"build", "-config", "c.yaml", "-out", "o.mmdb", "-bits6", "129"}, "-bits6 129 is not in 16..128"},
		{[]string{"build", "-config", "c.yaml", "-out", "o.mmdb", "-max-blocks", "0"}, "-max-blocks must be positive"},
		{[]string{"build", "-ipv6", "both"}, `invalid value "both" for flag -ipv6`},
		{[]string{"inspect"}, "no FILE to inspect"},
		{[]string{"inspect", "f.mmdb", "1.2.3"}, `ADDR "1.2.3" is not an IP address`},
		{[]string{"diff", "a.mmdb"}, "want OLD and NEW, got 1 arguments"},
		{[]string{"diff", "-nope", "a", "b"}, "flag provided but not defined: -nope"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), append([]string{"cidrdb"}, tt.args...), &stdout, &stderr)
			if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), tt.want) || !strings.Contains(stderr.String(), "Usage: httpdns cidrdb") {
				t.Errorf("run = %v, stderr %q; want a usage error saying %q", err, stderr.String(), tt.want)
			}
		})
	}
}

// TestCIDRDBHelp checks each subcommand's help, and that the schema table
// "cidrdb -h" prints is the one in the cidrdb package documentation.
func TestCIDRDBHelp(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args   []string
		stdout bool // the help goes to stdout, as asked for
		want   string
	}{
		{[]string{"-h"}, false, "Usage: httpdns cidrdb build -config"},
		{[]string{"help"}, true, "Usage: httpdns cidrdb build -config"},
		{[]string{"build", "-h"}, false, "Usage: httpdns cidrdb build -config FILE -out FILE [-bits4 24]"},
		{[]string{"inspect", "--help"}, false, "Usage: httpdns cidrdb inspect [-top 20]"},
		{[]string{"help", "diff"}, false, "Usage: httpdns cidrdb diff [-json]"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), append([]string{"cidrdb"}, tt.args...), &stdout, &stderr); err != nil {
			t.Errorf("cidrdb %q = %v", tt.args, err)
		}
		got := stderr.String()
		if tt.stdout {
			got = stdout.String()
		}
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("cidrdb %q printed %q, want %q", tt.args, got, tt.want)
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "cidrdb", "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	var table []string
	for line := range strings.Lines(string(doc)) {
		if rest, ok := strings.CutPrefix(line, "//\t"); ok {
			table = append(table, "  "+rest)
		}
	}
	if len(table) < 6 || !strings.Contains(table[0], "key") || !strings.Contains(cidrdbUsage, strings.Join(table, "")) {
		t.Errorf("the schema table of cidrdb -h is not the one in cidrdb/doc.go:\n%s", strings.Join(table, ""))
	}
}

// TestCIDRDBBuildMaxMind builds from MaxMind's own test databases (City +
// ASN), when they are around, and inspects an address they know.
func TestCIDRDBBuildMaxMind(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "..", "shared", "testdata", "maxmind")
	city, asn := filepath.Join(dir, "GeoLite2-City-Test.mmdb"), filepath.Join(dir, "GeoLite2-ASN-Test.mmdb")
	if _, err := os.Stat(city); err != nil {
		t.Skipf("MaxMind test databases not available: %v", err)
	}
	tmp := t.TempDir()
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	conf := writeGeoConfig(t, tmp, abs(city), abs(asn))
	out := filepath.Join(tmp, "maxmind.mmdb")
	line := runOK(t, "cidrdb", "build", "-config", conf, "-out", out, "-bits4", "16")
	if !regexp.MustCompile(`^wrote .*: \d+ blocks \(IPv4 \d+, IPv6 \d+\) in \d+ networks from `).MatchString(line) {
		t.Errorf("build printed %q", line)
	}
	got := runOK(t, "cidrdb", "inspect", out, "89.160.20.112")
	// The /16 unit takes its city from the only City network inside it (89.160.20.112/28) and
	// its ISP from the ASN database's network at 89.160.0.0.
	if !regexp.MustCompile(`(?m)^89\.160\.20\.112\s+\d+\s+89\.160\.0\.0/16\s+89\.160\.0\.0/16\s+SE\s+Linköping\s+Bredband2 AB\s+29518$`).MatchString(got) {
		t.Errorf("inspect 89.160.20.112:\n%s", got)
	}
}
