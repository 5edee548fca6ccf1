package cidrdb

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzOpenCIDRDB opens arbitrary bytes as a CIDRDB. Open must never panic
// and must name the file when it refuses it; a file it accepts must answer
// for each of its networks with that network's block.
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
