package cidrdb

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// cidrValue is a schema-conforming CIDRDB record value.
func cidrValue(id uint32, city string) mmdbtype.Map {
	return Record{BlockID: id, Country: "CN", City: city, ISP: "CT", ASN: 1}.value()
}

// rawCIDRDB writes a CIDRDB-typed mmdb holding exactly nets, bypassing
// WriteFile's checks, and returns its path.
func rawCIDRDB(t *testing.T, nets ...netValue) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raw.mmdb")
	if err := writeMMDB(path, DatabaseType, nets); err != nil {
		t.Fatalf("writing raw CIDRDB: %v", err)
	}
	return path
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	good := filepath.Join(t.TempDir(), "good.mmdb")
	if err := WriteFile(good, testBlocks()); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.mmdb")
	truncated := filepath.Join(t.TempDir(), "truncated.mmdb")
	if b, err := os.ReadFile(good); err != nil || os.WriteFile(truncated, b[:len(b)/2], 0o644) != nil {
		t.Fatal("writing truncated CIDRDB")
	}
	garbage := filepath.Join(t.TempDir(), "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte("not an mmdb at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := pfx("10.0.0.0/24")
	tests := []struct {
		name  string
		cfg   Config
		want  error  // errors.Is target; nil: any error
		names string // the file the error must name
	}{
		{"missing city", Config{CityPath: missing, ISPPath: g.isp}, fs.ErrNotExist, missing},
		{"missing isp", Config{CityPath: g.city, ISPPath: missing}, fs.ErrNotExist, missing},
		{"missing cidrdb", Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: missing}, fs.ErrNotExist, missing},
		{"no city path", Config{ISPPath: g.isp}, ErrMissingPath, ""},
		{"no isp path", Config{CityPath: g.city}, ErrMissingPath, ""},
		{"ASN db as city", Config{CityPath: g.asn, ISPPath: g.isp}, ErrWrongType, g.asn},
		{"city db as isp", Config{CityPath: g.city, ISPPath: g.city}, ErrWrongType, g.city},
		{"CIDRDB as city", Config{CityPath: good, ISPPath: g.isp}, ErrWrongType, good},
		{"city db as cidrdb", Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: g.city}, ErrWrongType, g.city},
		{"ISP db as cidrdb", Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: g.isp}, ErrWrongType, g.isp},
		{"empty cidrdb", Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: rawCIDRDB(t)}, ErrEmpty, ""},
		{"truncated cidrdb", Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: truncated}, nil, truncated},
		{"garbage cidrdb", Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: garbage}, nil, garbage},
		{"garbage city", Config{CityPath: garbage, ISPPath: g.isp}, nil, garbage},
	}
	schema := []struct {
		name string
		nets []netValue
	}{
		{"block_id missing", []netValue{{n, mmdbtype.Map{"city": mmdbtype.String("X")}}}},
		{"block_id zero", []netValue{{n, cidrValue(0, "X")}}},
		{"block_id a string", []netValue{{n, mmdbtype.Map{"block_id": mmdbtype.String("7")}}}},
		{"city a number", []netValue{{n, mmdbtype.Map{"block_id": mmdbtype.Uint32(1), "city": mmdbtype.Uint32(3)}}}},
		{"asn negative", []netValue{{n, mmdbtype.Map{"block_id": mmdbtype.Uint32(1), "asn": mmdbtype.Int32(-3)}}}},
		{"record not a map", []netValue{{n, mmdbtype.String("block 1")}}},
		{"block with two cities", []netValue{{n, cidrValue(1, "X")}, {pfx("10.0.2.0/24"), cidrValue(1, "Y")}}},
		{"block across families", []netValue{{n, cidrValue(1, "X")}, {pfx("2001:db8::/32"), cidrValue(1, "X")}}},
	}
	for _, s := range schema {
		path := rawCIDRDB(t, s.nets...)
		tests = append(tests, struct {
			name  string
			cfg   Config
			want  error
			names string
		}{"schema: " + s.name, Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: path}, ErrSchema, path})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, err := Open(tt.cfg)
			if err == nil {
				_ = db.Close()
				t.Fatalf("Open(%+v) succeeded, want an error", tt.cfg)
			}
			if db != nil {
				t.Errorf("Open returned a DB with its error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Open = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.names) {
				t.Errorf("Open = %q, want it to name %s", err, tt.names)
			}
		})
	}
}

// TestOpenReportsAllProblems checks that Open reports every bad file at
// once rather than the first one.
func TestOpenReportsAllProblems(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	missing := filepath.Join(t.TempDir(), "missing.mmdb")
	_, err := Open(Config{CityPath: g.asn, CIDRDBPath: missing})
	for _, want := range []error{ErrWrongType, ErrMissingPath, fs.ErrNotExist} {
		if !errors.Is(err, want) {
			t.Errorf("Open = %v, want it to include %v", err, want)
		}
	}
	for _, name := range []string{g.asn, missing, "isp"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Open = %v, want it to name %s", err, name)
		}
	}
}

// TestOpenCIDRDBSurvivesRewrite checks that the CIDRDB is read whole at
// Open: a later in-place rewrite of the file does not change what a DB
// already open answers.
func TestOpenCIDRDBSurvivesRewrite(t *testing.T) {
	t.Parallel()
	g := mustGeo(t, world())
	path := filepath.Join(t.TempDir(), "cidr.mmdb")
	if err := WriteFile(path, testBlocks()); err != nil {
		t.Fatal(err)
	}
	db, err := Open(Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	before := db.Locate(addr("10.1.5.9"))
	if err := os.WriteFile(path, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if after := db.Locate(addr("10.1.5.9")); after != before || after.BlockID != 3 {
		t.Errorf("after the file was overwritten Locate = %+v, want %+v", after, before)
	}
}
