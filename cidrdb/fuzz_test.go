package cidrdb

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// FuzzOpenCIDRDB opens arbitrary bytes as a CIDRDB, and as the City and
// the ISP database. Open must never panic, must return (the tree check
// bounds the walk, so no input makes it run for long) and must name the
// file when it refuses it; a CIDRDB it accepts must answer for each of its
// networks with that network's block. Seeds include files of other
// writers' layouts (no description, IPv4 in ::ffff:0:0/96, other record
// sizes) and hand-made trees that are not trees.
//
//	go test ./cidrdb -run '^$' -fuzz FuzzOpenCIDRDB -fuzztime 5s -fuzzminimizetime 1s
//
// (Minimizing a new input of a few kilobytes takes the fuzzer up to its
// default minute; capping it keeps short runs fuzzing.)
func FuzzOpenCIDRDB(f *testing.F) {
	g, err := writeGeo(f.TempDir(), world())
	if err != nil {
		f.Fatalf("writing geo fixtures: %v", err)
	}
	path := filepath.Join(f.TempDir(), "fuzz.mmdb")
	seed := filepath.Join(f.TempDir(), "seed.mmdb")
	for _, recs := range [][]Record{testBlocks(), testBlocks()[:1]} {
		if err := WriteFile(seed, recs); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(seed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for name, write := range map[string]func(t testing.TB, path string){
		"no description": ours(func(m mmdbtype.Map) { delete(m, "description") }),
		"mapped IPv4": otherWriter(mmdbwriter.Options{DisableIPv4Aliasing: true},
			netValue{pfx("::ffff:10.1.0.0/120"), cidrValue(1, "Beijing")}, v6Block2),
		"record size 32": otherWriter(mmdbwriter.Options{RecordSize: 32}, v4Block1, v6Block2),
		"IPv4 tree":      otherWriter(mmdbwriter.Options{IPVersion: 4, RecordSize: 24}, v4Block1),
	} {
		p := filepath.Join(f.TempDir(), "seed.mmdb")
		write(f, p)
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatalf("seed %s: %v", name, err)
		}
		f.Add(b)
	}
	data := encode(f, cidrValue(1, "X"))
	f.Add(rawMMDB(f, [][2]uint32{{1, 1}, {2, 2}, {3 + 16, 3}}, data, rawMeta(3, 6))) // shared subtrees
	f.Add(rawMMDB(f, [][2]uint32{{1, 2 + 16}, {0, 2 + 16}}, data, rawMeta(2, 6)))    // a cycle
	f.Add([]byte{})
	f.Add(slices.Concat([]byte("\xab\xcd\xefMaxMind.com"), make([]byte, 64)))
	if bad, err := filepath.Glob(filepath.Join("..", "..", "shared", "testdata", "maxmind", "bad-*.mmdb")); err == nil {
		for _, p := range bad {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// One file per worker process, rewritten for each input: inputs run
		// one after another within a process.
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, cfg := range []Config{{CityPath: path, ISPPath: g.isp}, {CityPath: g.city, ISPPath: path}} {
			if db, err := Open(cfg); err == nil {
				_ = db.Locate(addr("10.1.0.1"))
				_ = db.Locate(addr("2001:db8::1"))
				_ = db.Close()
			} else if !strings.Contains(err.Error(), path) {
				t.Errorf("Open as a geo database = %q, want it to name the file", err)
			}
		}
		db, err := Open(Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: path})
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Errorf("Open = %q, want it to name the file", err)
			}
			return
		}
		defer db.Close()
		recs, err := ReadFile(path)
		if err != nil {
			t.Fatalf("Open accepted the file but ReadFile = %v", err)
		}
		if db.Blocks() == 0 || len(recs) == 0 {
			t.Fatalf("accepted a file with %d blocks and %d records", db.Blocks(), len(recs))
		}
		for _, r := range recs {
			loc := db.Locate(r.Network.Addr())
			if loc.BlockID != r.BlockID || !loc.Network.Contains(loc.Addr) || !loc.Block.IsValid() {
				t.Errorf("Locate(%v) = %+v, want block_id %d from network %v", r.Network.Addr(), loc, r.BlockID, r.Network)
			}
			if slices.Contains(db.Siblings(loc, 3), loc.Block) {
				t.Errorf("Siblings(%+v) includes its own block", loc)
			}
		}
	})
}
