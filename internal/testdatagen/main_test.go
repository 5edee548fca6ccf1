package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"
)

func TestRunWritesFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-out", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v (stderr %q)", err, stderr.String())
	}
	for _, name := range []string{"world-city.mmdb", "world-isp.mmdb"} {
		db, err := maxminddb.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("opening %s: %v", name, err)
		}
		if err := db.Verify(); err != nil {
			t.Errorf("verifying %s: %v", name, err)
		}
		db.Close()
	}
	data, err := os.ReadFile(filepath.Join(dir, WhitelistName))
	if err != nil {
		t.Fatalf("reading whitelist: %v", err)
	}
	tiers := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 || !strings.HasSuffix(strings.TrimPrefix(f[0], "*."), ".test") ||
			(len(f) == 3 && f[2] != "active" && f[2] != "passive") {
			t.Errorf("line %d %q is not a rule", i+1, line)
		}
		tiers[f[1]]++
	}
	if tiers["subnet"] < 5 || tiers["global"] < 2 || len(tiers) != 2 || !strings.Contains(string(data), "\n*.") {
		t.Errorf("whitelist tiers %v, want subnet and global rules and a wildcard", tiers)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-nope"}, &stdout, &stderr); err == nil {
		t.Error("run accepted an unknown flag")
	}
	if err := run(context.Background(), []string{"-out", filepath.Join(t.TempDir(), "missing")}, &stdout, &stderr); err == nil {
		t.Error("run wrote into a missing directory")
	}
}

// TestCommittedFilesAreCurrent regenerates the test data and compares it with the files committed
// in the repository's testdata/, so a change to the simulated world cannot leave them stale.
func TestCommittedFilesAreCurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-out", dir}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v (stderr %q)", err, stderr.String())
	}
	for _, name := range []string{"world-city.mmdb", "world-isp.mmdb", WhitelistName} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/%s differs from what the generator writes now (%d bytes, want %d): "+
				"run \"go generate ./internal/testdatagen\" and commit the result", name, len(got), len(want))
		}
	}
}
