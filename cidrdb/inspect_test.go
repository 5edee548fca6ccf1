package cidrdb

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestOpenCIDRDB(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cidr.mmdb")
	if err := WriteFile(path, testBlocks()); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	db, err := OpenCIDRDB(path)
	if err != nil {
		t.Fatalf("OpenCIDRDB: %v", err)
	}
	defer db.Close()
	if db.Blocks() != 8 {
		t.Errorf("Blocks = %d, want 8", db.Blocks())
	}
	m := db.Metadata()
	if m.DatabaseType != DatabaseType || m.Description != description || m.IPVersion != 6 || m.NodeCount == 0 ||
		m.BuildTime.Location() != time.UTC || m.BuildTime.Before(before.Truncate(time.Second)) || m.BuildTime.After(time.Now()) {
		t.Errorf("Metadata = %+v", m)
	}
	tests := []struct {
		addr string
		want Location
	}{
		{"10.1.2.9", Location{Addr: addr("10.1.2.9"), Block: pfx("10.1.1.0/24"), Network: pfx("10.1.2.0/24"), BlockID: 2,
			Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134}},
		{"::ffff:10.1.5.1", Location{Addr: addr("10.1.5.1"), Block: pfx("10.1.4.0/22"), Network: pfx("10.1.4.0/22"), BlockID: 3,
			Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134}},
		{"192.0.2.1", Location{Addr: addr("192.0.2.1"), Block: pfx("192.0.2.0/24"), Network: pfx("192.0.2.0/24")}},
		{"2001:db8:5::1", Location{Addr: addr("2001:db8:5::1"), Block: pfx("2001:db8:5::/56"), Network: pfx("2001:db8:5::/56")}},
	}
	for _, tt := range tests {
		if got := db.Locate(addr(tt.addr)); got != tt.want {
			t.Errorf("Locate(%s)\n got %+v\nwant %+v", tt.addr, got, tt.want)
		}
	}
	if (&DB{}).Metadata() != (Metadata{}) {
		t.Error("Metadata without a CIDRDB is not zero")
	}
}

func TestOpenCIDRDBErrors(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.mmdb")
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not an mmdb"), 0o644); err != nil {
		t.Fatal(err)
	}
	noID := rawCIDRDB(t, netValue{pfx("10.0.0.0/24"), cidrValue(0, "Beijing")})
	tests := []struct {
		name, path string
		want       error // nil: any error
	}{
		{"missing", missing, fs.ErrNotExist},
		{"garbage", garbage, nil},
		{"a City database", g.city, ErrWrongType},
		{"off schema", noID, ErrSchema},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, err := OpenCIDRDB(tt.path)
			if err == nil {
				db.Close()
			}
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("OpenCIDRDB = %v, want an error (%v) naming %s", err, tt.want, tt.path)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	recs := append(testBlocks(),
		rec("::ffff:198.51.100.0/120", 9, "JP", "Tokyo", "", 0),
		rec("198.51.101.0/24", 10, "", "", "", 0),
		Record{BlockID: 11}, // no network: left out
	)
	got := Summarize(recs)
	want := Summary{
		Networks: 11, Blocks: 10, BlocksIPv4: 7, BlocksIPv6: 3,
		Countries: []Count{{Name: "CN", Blocks: 8}, {Name: "", Blocks: 1}, {Name: "JP", Blocks: 1}},
		Cities: []Count{
			{Country: "CN", Name: "Beijing", Blocks: 7}, {Name: "", Blocks: 1},
			{Country: "CN", Name: "Shanghai", Blocks: 1}, {Country: "JP", Name: "Tokyo", Blocks: 1},
		},
		ISPs: []Count{{Name: "China Telecom", Blocks: 8}, {Name: "", Blocks: 2}},
		Prefixes: []PrefixCount{
			{Family: 4, Bits: 22, Networks: 1}, {Family: 4, Bits: 24, Networks: 7}, {Family: 6, Bits: 48, Networks: 3},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Summarize:\n got %+v\nwant %+v", got, want)
	}
	var b bytes.Buffer
	if err := got.WriteText(&b, 2); err != nil {
		t.Fatal(err)
	}
	wantText := `networks:  11
blocks:    10 (IPv4 7, IPv6 3)

blocks by country (2 of 3):
  CN         8
  (unknown)  1

blocks by city (2 of 4):
  CN         Beijing    7
  (unknown)  (unknown)  1

blocks by ISP (2 of 2):
  China Telecom  8
  (unknown)      2

networks by prefix length:
  IPv4 /22  1
  IPv4 /24  7
  IPv6 /48  3
`
	if b.String() != wantText {
		t.Errorf("WriteText:\n%s\nwant\n%s", b.String(), wantText)
	}
	if s := Summarize(nil); !reflect.DeepEqual(s, Summary{Countries: []Count{}, Cities: []Count{}, ISPs: []Count{}}) {
		t.Errorf("Summarize(nil) = %+v", s)
	}
}
