package cdnsim_test

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// cityRecord is the part of a GeoIP2-City record the project reads.
type cityRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		TimeZone string `maxminddb:"time_zone"`
	} `maxminddb:"location"`
}

// ispRecord is a GeoIP2-ISP record.
type ispRecord struct {
	ISP          string `maxminddb:"isp"`
	Organization string `maxminddb:"organization"`
	ASN          uint32 `maxminddb:"autonomous_system_number"`
	ASOrg        string `maxminddb:"autonomous_system_organization"`
}

// openDB opens and verifies an mmdb of the given type.
func openDB(t *testing.T, path, dbType string) *maxminddb.Reader {
	t.Helper()
	db, err := maxminddb.Open(path)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Verify(); err != nil {
		t.Errorf("verifying %s: %v", path, err)
	}
	if db.Metadata.DatabaseType != dbType || db.Metadata.IPVersion != 6 || db.Metadata.Description["en"] == "" {
		t.Errorf("%s metadata %+v, want type %s, IPv6, a description", path, db.Metadata, dbType)
	}
	return db
}

func TestWriteGeoDBs(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	cityPath, ispPath, err := w.WriteGeoDBs(t.TempDir())
	if err != nil {
		t.Fatalf("WriteGeoDBs: %v", err)
	}
	city, isp := openDB(t, cityPath, "GeoIP2-City"), openDB(t, ispPath, "GeoIP2-ISP")
	var clients []netip.Addr
	for i, s := range w.Subnets() {
		clients = append(clients, w.ClientIn(s, i))
	}
	for _, r := range w.Regions() {
		clients = append(clients, w.ClientIn(r.Prefixes[len(r.Prefixes)-1], r.ID))
	}
	misplaced := 0
	for _, a := range clients {
		want, _ := w.GeoRegion(a)
		var c cityRecord
		var p ispRecord
		if err := city.Lookup(a).Decode(&c); err != nil {
			t.Fatalf("city lookup %s: %v", a, err)
		}
		if err := isp.Lookup(a).Decode(&p); err != nil {
			t.Fatalf("isp lookup %s: %v", a, err)
		}
		if c.Country.ISOCode != want.Country || c.City.Names["en"] != want.City || c.Location.TimeZone == "" ||
			p.ISP != want.ISP || p.ASN != want.ASN || p.Organization == "" || p.ASOrg == "" {
			t.Fatalf("%s: databases say %+v %+v, GeoRegion %+v", a, c, p, want)
		}
		if truth, _ := w.TrueRegion(a); truth.ID != want.ID {
			misplaced++
		}
	}
	if misplaced != len(w.Misplaced()) {
		t.Errorf("databases misplace %d clients, want one in each of the %d misplaced /24s", misplaced, len(w.Misplaced()))
	}
	for _, a := range []string{"8.8.8.8", "127.0.0.1", "2001:4860::1"} {
		if r := city.Lookup(netip.MustParseAddr(a)); r.Found() {
			t.Errorf("city database has a record for %s, outside the world", a)
		}
	}
}

func TestWriteGeoDBsIsReproducible(t *testing.T) {
	t.Parallel()
	w := newWorld(t, cdnsim.DefaultConfig())
	dirA, dirB := t.TempDir(), t.TempDir()
	for _, dir := range []string{dirA, dirB} {
		if _, _, err := w.WriteGeoDBs(dir); err != nil {
			t.Fatalf("WriteGeoDBs(%s): %v", dir, err)
		}
	}
	for _, name := range []string{cdnsim.CityDBName, cdnsim.ISPDBName} {
		a, errA := os.ReadFile(filepath.Join(dirA, name))
		b, errB := os.ReadFile(filepath.Join(dirB, name))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two writes (%v, %v)", name, errA, errB)
		}
	}
	if _, _, err := w.WriteGeoDBs(filepath.Join(dirA, "missing", "dir")); err == nil {
		t.Error("WriteGeoDBs into a missing directory succeeded")
	}
}
