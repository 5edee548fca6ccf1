package cidrdb

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DatabaseType is the database_type metadata value of every CIDRDB file.
const DatabaseType = "HTTPDNS-CIDRDB"

// Default block sizes used when an address is not covered by a CIDRDB: the
// source prefix lengths the resolver sends as EDNS Client Subnet (RFC 7871).
const (
	// DefaultBitsIPv4 is the prefix length of an IPv4 address's default block (/24).
	DefaultBitsIPv4 = 24
	// DefaultBitsIPv6 is the prefix length of an IPv6 address's default block (/56).
	DefaultBitsIPv6 = 56
)

var (
	// ErrWrongType reports a database whose database_type does not fit the
	// role it was given (an ASN database as the City database, a City
	// database as the CIDRDB, ...).
	ErrWrongType = errors.New("wrong database type")
	// ErrEmpty reports a CIDRDB without any network.
	ErrEmpty = errors.New("cidrdb has no networks")
	// ErrSchema reports a CIDRDB record that does not follow the schema in
	// the package documentation.
	ErrSchema = errors.New("invalid cidrdb record")
	// ErrMissingPath reports a required database path left empty in Config.
	ErrMissingPath = errors.New("database path is required")
)

// Location is where a client address sits.
type Location struct {
	// Addr is the (unmapped) address that was located.
	Addr netip.Addr
	// Block is the block's canonical key: with a CIDRDB, the lowest network
	// carrying this block_id (stable across reloads when the block did not
	// change); without one, Addr's /24 (IPv4) or /56 (IPv6).
	Block netip.Prefix
	// Network is the network inside the block that holds Addr (== Block when
	// the block is CIDR-aligned or when there is no CIDRDB). Its Bits() is
	// "the block's prefix length" for ECS scope rules.
	Network netip.Prefix
	// BlockID is the CIDRDB block_id; 0 without a CIDRDB or when Addr is
	// outside it.
	BlockID uint32
	// Country is the ISO 3166 code, "" when unknown.
	Country string
	// City is the English name, "" when unknown.
	City string
	// ISP is the ISP name (ISP schema `isp`, else ASN schema
	// `autonomous_system_organization`), "" when unknown.
	ISP string
	// ASN is the autonomous system number, 0 when unknown.
	ASN uint32
}

// Config names the databases a DB reads.
type Config struct {
	// CityPath is a MaxMind City-schema mmdb (GeoIP2-City / GeoLite2-City); required.
	CityPath string
	// ISPPath is a MaxMind ISP-schema (GeoIP2-ISP) or ASN-schema
	// (GeoLite2-ASN) mmdb; required.
	ISPPath string
	// CIDRDBPath is an optional HTTPDNS-CIDRDB mmdb; empty means none, and
	// every address then sits in its default /24 or /56 block.
	CIDRDBPath string
}

// DB locates client addresses. It is immutable once opened: Locate,
// Siblings and Blocks are safe for concurrent use. Close must not run
// concurrently with them; to roll out a new CIDRDB, open a new DB, swap it
// in, and close the old one once no lookup can still use it.
type DB struct {
	city  *maxminddb.Reader
	isp   *maxminddb.Reader
	cidr  *maxminddb.Reader // nil without a CIDRDB
	index *index            // nil without a CIDRDB

	// What Locate reads of each geo record, decoded once at Open, by the
	// record's offset: a lookup then decodes nothing and allocates nothing.
	cityRecs, ispRecs map[uintptr]geoFields
}

// Open opens and validates the databases named by cfg. Each is read into
// memory, its database_type checked against its role, its structure
// checked and every network walked with its record decoded (the CIDRDB's
// against the schema), so a corrupt or off-schema file is refused here
// rather than at lookup time; optional metadata such as the description is
// not required. All problems are reported together, each naming its file.
func Open(cfg Config) (*DB, error) {
	var errs []error
	if cfg.CityPath == "" {
		errs = append(errs, fmt.Errorf("opening geoip.city: %w", ErrMissingPath))
	}
	if cfg.ISPPath == "" {
		errs = append(errs, fmt.Errorf("opening geoip.isp: %w", ErrMissingPath))
	}
	db := &DB{}
	var err error
	if cfg.CityPath != "" {
		db.city, db.cityRecs, err = openGeo("geoip.city", cfg.CityPath, isCityType, "a City", decodeCityRecord)
		errs = append(errs, err)
	}
	if cfg.ISPPath != "" {
		db.isp, db.ispRecs, err = openGeo("geoip.isp", cfg.ISPPath, isISPType, "an ISP or ASN", decodeISPRecord)
		errs = append(errs, err)
	}
	if cfg.CIDRDBPath != "" {
		db.cidr, db.index, err = openCIDRDB(cfg.CIDRDBPath)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		_ = db.Close() // the open error is the one worth reporting
		return nil, err
	}
	return db, nil
}

// Blocks returns the number of distinct blocks in the CIDRDB, 0 without one.
func (db *DB) Blocks() int {
	if db.index == nil {
		return 0
	}
	return len(db.index.blocks)
}

// BuildTime is the CIDRDB's build time from its metadata, zero without a CIDRDB.
func (db *DB) BuildTime() time.Time {
	if db.cidr == nil {
		return time.Time{}
	}
	return time.Unix(int64(db.cidr.Metadata.BuildEpoch), 0).UTC()
}

// Close releases the databases.
func (db *DB) Close() error {
	var errs []error
	for _, r := range []*maxminddb.Reader{db.city, db.isp, db.cidr} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	return errors.Join(errs...)
}

func isCityType(t string) bool { return strings.Contains(t, "City") }

func isISPType(t string) bool { return strings.Contains(t, "ISP") || strings.Contains(t, "ASN") }

// openGeo reads a MaxMind database into memory, checks that its type fits
// the role, checks its structure and decodes every record into the fields
// Locate reads, so that a file Locate could not read is refused here. Its
// errors name the file by its role (name: geoip.city or geoip.isp, as the
// config keys call them) and path.
func openGeo(name, path string, fits func(string) bool, role string, decode func(maxminddb.Result) (geoFields, error)) (*maxminddb.Reader, map[uintptr]geoFields, error) {
	r, buf, err := readMMDB(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s %s: %w", name, path, err)
	}
	if t := r.Metadata.DatabaseType; !fits(t) {
		_ = r.Close()
		return nil, nil, fmt.Errorf("opening %s %s: %w: database_type %q is not %s database", name, path, ErrWrongType, t, role)
	}
	if err := checkStructure(r, buf); err != nil {
		_ = r.Close()
		return nil, nil, fmt.Errorf("opening %s %s: %w", name, path, err)
	}
	recs, err := checkGeo(r, decode)
	if err != nil {
		_ = r.Close()
		return nil, nil, fmt.Errorf("opening %s %s: %w", name, path, err)
	}
	return r, recs, nil
}

// openCIDRDB reads a CIDRDB into memory, so that the checked bytes are the
// ones served even if the file is later rewritten in place, then checks it
// and builds its index.
func openCIDRDB(path string) (*maxminddb.Reader, *index, error) {
	r, buf, err := readMMDB(path)
	if err != nil {
		return nil, nil, fmt.Errorf("opening cidrdb %s: %w", path, err)
	}
	ix, err := loadIndex(r, buf)
	if err != nil {
		_ = r.Close()
		return nil, nil, fmt.Errorf("opening cidrdb %s: %w", path, err)
	}
	return r, ix, nil
}
