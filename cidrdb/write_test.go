package cidrdb

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"
)

func TestWriteFileRoundTrip(t *testing.T) {
	t.Parallel()
	in := testBlocks()
	// An IPv4 network given IPv4-mapped, with host bits set, reads back plain.
	in = append(in, Record{Network: pfx("::ffff:198.51.100.7/120"), BlockID: 9, Country: "JP", City: "Tokyo", ASN: 1})
	path := filepath.Join(t.TempDir(), "cidr.mmdb")
	if err := WriteFile(path, in); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	want := []Record{
		in[5], in[0], in[1], in[2], in[3], in[4],
		{Network: pfx("198.51.100.0/24"), BlockID: 9, Country: "JP", City: "Tokyo", ASN: 1},
		in[6], in[7], in[8],
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadFile after WriteFile:\n got %v\nwant %v", got, want)
	}

	r, err := maxminddb.Open(path)
	if err != nil {
		t.Fatalf("maxminddb.Open: %v", err)
	}
	defer r.Close()
	if r.Metadata.DatabaseType != DatabaseType || r.Metadata.IPVersion != 6 || r.Metadata.Description["en"] == "" {
		t.Errorf("metadata = %+v, want type %q, IPv6 tree, a description", r.Metadata, DatabaseType)
	}
	if err := r.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// TestWriteFileMergesIdenticalNeighbours documents what the mmdb writer
// does with two adjacent networks of one block that together form a CIDR
// block: they read back as the one wider network.
func TestWriteFileMergesIdenticalNeighbours(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cidr.mmdb")
	in := []Record{
		{Network: pfx("10.9.0.0/24"), BlockID: 1, City: "A"},
		{Network: pfx("10.9.1.0/24"), BlockID: 1, City: "A"},
	}
	if err := WriteFile(path, in); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	want := []Record{{Network: pfx("10.9.0.0/23"), BlockID: 1, City: "A"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestWriteFileRejects(t *testing.T) {
	t.Parallel()
	bj := func(n string, id uint32) Record {
		return Record{Network: pfx(n), BlockID: id, Country: "CN", City: "Beijing", ISP: "CT"}
	}
	tests := []struct {
		name string
		recs []Record
		want error
	}{
		{"no records", nil, ErrEmpty},
		{"zero block_id", []Record{bj("10.0.0.0/24", 0)}, ErrSchema},
		{"invalid network", []Record{{BlockID: 1}}, ErrSchema},
		{"block with two cities", []Record{bj("10.0.0.0/24", 1), {Network: pfx("10.0.1.0/24"), BlockID: 1, City: "Shanghai"}}, ErrSchema},
		{"block with two ASNs", []Record{bj("10.0.0.0/24", 1), func() Record { r := bj("10.0.1.0/24", 1); r.ASN = 7; return r }()}, ErrSchema},
		{"block across families", []Record{bj("10.0.0.0/24", 1), bj("2001:db8::/48", 1)}, ErrSchema},
		{"nested networks", []Record{bj("10.0.0.0/16", 1), bj("10.0.5.0/24", 2)}, ErrSchema},
		{"same network twice", []Record{bj("10.0.0.0/24", 1), bj("10.0.0.0/24", 2)}, ErrSchema},
		{"IPv6 inside the IPv4 subtree", []Record{bj("::/64", 1)}, ErrSchema},
		{"IPv4-compatible IPv6", []Record{bj("::a00:0/120", 1)}, ErrSchema},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "cidr.mmdb")
			err := WriteFile(path, tt.recs)
			if !errors.Is(err, tt.want) {
				t.Fatalf("WriteFile = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused write left a file behind: %v", err)
			}
		})
	}
}

// TestWriteFileAtomic checks that a refused or failed write keeps the old
// file, and that a good one replaces it without leaving temporary files.
func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "cidr.mmdb")
	old := []Record{{Network: pfx("10.0.0.0/24"), BlockID: 1, City: "Old"}}
	if err := WriteFile(path, old); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if err := WriteFile(path, []Record{{Network: pfx("10.0.0.0/24")}}); !errors.Is(err, ErrSchema) {
		t.Fatalf("WriteFile(bad) = %v, want ErrSchema", err)
	}
	if got, err := ReadFile(path); err != nil || !reflect.DeepEqual(got, old) {
		t.Fatalf("after a refused write ReadFile = %v, %v; want the old records", got, err)
	}
	next := []Record{{Network: pfx("10.0.0.0/24"), BlockID: 2, City: "New"}}
	if err := WriteFile(path, next); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if got, err := ReadFile(path); err != nil || !reflect.DeepEqual(got, next) {
		t.Fatalf("after a rewrite ReadFile = %v, %v; want the new records", got, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the database", len(entries))
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, %v; want 0644", info.Mode(), err)
	}

	missing := filepath.Join(dir, "no-such-dir", "cidr.mmdb")
	if err := WriteFile(missing, next); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("WriteFile into a missing directory = %v, want an error naming %s", err, missing)
	}
}
