package cdnsim

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// File names WriteGeoDBs uses inside its directory.
const (
	CityDBName = "world-city.mmdb"
	ISPDBName  = "world-isp.mmdb"
)

// buildEpoch is the build time written into the databases (2025-01-01T00:00:00Z), fixed so the
// same world always writes the same bytes.
const buildEpoch = 1735689600

// WriteGeoDBs writes the IP library's view of the world into dir as two MaxMind DB files: a City
// database (database_type "GeoIP2-City": continent, country, registered_country, city, location)
// and an ISP database (database_type "GeoIP2-ISP": isp, organization, autonomous_system_number,
// autonomous_system_organization). Both are IPv6 trees holding the IPv4 space too. Every
// allocation is written with its true region and every Misplaced /24 and Misplaced6 /48 over it
// with the wrong one, so the files agree with GeoRegion and disagree with TrueRegion exactly there.
func (w *World) WriteGeoDBs(dir string) (cityPath, ispPath string, err error) {
	cityPath, ispPath = filepath.Join(dir, CityDBName), filepath.Join(dir, ISPDBName)
	if err := w.writeDB(cityPath, "GeoIP2-City", w.cityRecord); err != nil {
		return "", "", err
	}
	if err := w.writeDB(ispPath, "GeoIP2-ISP", w.ispRecord); err != nil {
		return "", "", err
	}
	return cityPath, ispPath, nil
}

// writeDB builds one database from record(region) and writes it to path atomically.
func (w *World) writeDB(path, dbType string, record func(int) mmdbtype.Map) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		Description:             map[string]string{"en": "httpdns simulated CDN world (seed " + fmt.Sprint(w.cfg.Seed) + ")"},
		Languages:               []string{"en"},
		IncludeReservedNetworks: true, // 2001:db8::/32 is the documentation range
		BuildEpoch:              buildEpoch,
	})
	if err != nil {
		return fmt.Errorf("creating %s tree: %w", dbType, err)
	}
	// General to specific: a later insert replaces what it covers, so the misplaced /24s go last.
	var nets []netip.Prefix
	var regions []int
	for _, a := range w.allocs {
		nets, regions = append(nets, prefix4(a.first, a.bits)), append(regions, a.region)
	}
	for _, a := range w.allocs6 {
		nets, regions = append(nets, prefix6(a.first, a.bits)), append(regions, a.region)
	}
	for _, p := range w.misplaced {
		nets, regions = append(nets, p), append(regions, w.geo[u32(p.Addr())])
	}
	for _, p := range w.misplaced6 {
		nets, regions = append(nets, p), append(regions, w.geo6[hi64(p.Addr())])
	}
	for i, p := range nets {
		if err := tree.Insert(ipNet(p), record(regions[i])); err != nil {
			return fmt.Errorf("inserting %s into %s: %w", p, dbType, err)
		}
	}
	return writeAtomic(path, tree)
}

// writeAtomic writes tree to a temporary file next to path and renames it into place, so
// readers never see half a database.
func writeAtomic(path string, tree *mmdbwriter.Tree) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(f.Name())              // fails harmlessly after the rename
	if err := f.Chmod(0o644); err != nil { // CreateTemp makes it 0600; databases are for everyone to read
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// ipNet converts a prefix to the form mmdbwriter takes.
func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Masked().Addr()
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

// cityRecord is a GeoIP2-City record for region r.
func (w *World) cityRecord(r int) mmdbtype.Map {
	c := cityTable()[r/w.cfg.ISPs]
	en := func(s string) mmdbtype.Map { return mmdbtype.Map{"en": mmdbtype.String(s)} }
	country := mmdbtype.Map{"iso_code": mmdbtype.String(c.country), "names": en(c.countryName)}
	return mmdbtype.Map{
		"continent":          mmdbtype.Map{"code": mmdbtype.String(c.continent), "names": en(c.continentName)},
		"country":            country,
		"registered_country": country,
		"city":               mmdbtype.Map{"geoname_id": mmdbtype.Uint32(c.geonameID), "names": en(c.name)},
		"location": mmdbtype.Map{
			"latitude":        mmdbtype.Float64(c.lat),
			"longitude":       mmdbtype.Float64(c.lon),
			"time_zone":       mmdbtype.String(c.timeZone),
			"accuracy_radius": mmdbtype.Uint16(50),
		},
	}
}

// ispRecord is a GeoIP2-ISP record for region r.
func (w *World) ispRecord(r int) mmdbtype.Map {
	p := ispTable()[r%w.cfg.ISPs]
	return mmdbtype.Map{
		"isp":                            mmdbtype.String(p.name),
		"organization":                   mmdbtype.String(p.org),
		"autonomous_system_number":       mmdbtype.Uint32(p.asn),
		"autonomous_system_organization": mmdbtype.String(p.org),
	}
}
