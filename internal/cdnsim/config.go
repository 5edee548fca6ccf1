package cdnsim

import (
	"errors"
	"fmt"
)

// Config shapes a World. Start from DefaultConfig and change what the test needs: NewWorld fills
// zero Cities, ISPs and Subnets with their defaults, but takes the rates as given (0 means none).
type Config struct {
	// Seed makes the world: the same Config always builds the same World. Any value, 0 included,
	// is a seed; DefaultConfig uses 1.
	Seed uint64
	// Cities is how many cities the world has, 2..8, taken in order from a fixed table
	// (Beijing, Shanghai, Guangzhou, Singapore, Tokyo, Osaka, Frankfurt, Ashburn). Default 5
	// (three countries: CN, SG, JP).
	Cities int
	// ISPs is how many ISPs serve every city, 2..4. Default 3.
	ISPs int
	// Subnets is the approximate number of IPv4 /24s in the world, 32 per region at least and
	// 262144 at most. Every region gets an equal share, rounded down to whole /20s. Default 4096.
	Subnets int
	// GeoErrorRate is the fraction of IPv4 /24s that the IP library (the geo databases) places in
	// another city or ISP than the true one, 0..0.5. Default 0.015.
	GeoErrorRate float64
	// AltEdgeRate is the fraction of each CDN's blocks that go to another edge than the rest of
	// their region (so a city+ISP's answers are not uniform), 0..0.5. Default 0.05.
	AltEdgeRate float64
	// SplitRate is the fraction of IPv4 /24s that the splitting CDN (cdn-c) cuts into /26 pieces
	// with different edges, 0..0.5. Default 0.005.
	SplitRate float64
	// V6Allocs is how many IPv6 allocations the world has, each /32 to /40, every region at least
	// one (so 0 or Cities×ISPs..1024). 0 (the default) gives every region one /40: a compact IPv6
	// world for tests. EvalConfig asks for the demanding layout.
	V6Allocs int
	// V6Subnets is about how many /56s IPv6 clients live in (Subnets6), shared equally by the
	// allocations, 0..65536. Default 32 per allocation.
	V6Subnets int
	// V6GeoErrorRate is about the fraction of the client /56s whose /48 pool the IP library puts
	// in another city or ISP, 0..0.5. Default 0.
	V6GeoErrorRate float64
}

// DefaultConfig returns the configuration of the default world: 5 cities in 3 countries, 3 ISPs,
// about 4096 IPv4 /24s, 1.5% of them misplaced by the IP library.
func DefaultConfig() Config {
	return Config{
		Seed:         1,
		Cities:       5,
		ISPs:         3,
		Subnets:      4096,
		GeoErrorRate: 0.015,
		AltEdgeRate:  0.05,
		SplitRate:    0.005,
	}
}

// EvalConfig returns the configuration of the evaluation's world: the default world's IPv4 (the
// same /24s, misplacements and CDN blocks) plus demanding IPv6: 40 allocations of /32 to /40,
// about 2,000 client /56s, and an IP library wrong about the /48 pools of about 3% of them.
func EvalConfig() Config {
	c := DefaultConfig()
	c.V6Allocs = 40
	c.V6Subnets = 2000
	c.V6GeoErrorRate = 0.03
	return c
}

// Limits of Config.
const (
	maxSubnets   = 1 << 18
	maxRate      = 0.5
	maxV6Allocs  = 1024
	maxV6Subnets = 1 << 16
)

// withDefaults fills the zero counts with the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Cities == 0 {
		c.Cities = d.Cities
	}
	if c.ISPs == 0 {
		c.ISPs = d.ISPs
	}
	if c.Subnets == 0 {
		c.Subnets = d.Subnets
	}
	if c.V6Subnets == 0 {
		c.V6Subnets = 32 * max(c.V6Allocs, c.Cities*c.ISPs)
	}
	return c
}

// validate reports every problem of c together.
func (c Config) validate() error {
	var errs []error
	if c.Cities < 2 || c.Cities > len(cityTable()) {
		errs = append(errs, fmt.Errorf("cities %d: want 2..%d", c.Cities, len(cityTable())))
	}
	if c.ISPs < 2 || c.ISPs > len(ispTable()) {
		errs = append(errs, fmt.Errorf("isps %d: want 2..%d", c.ISPs, len(ispTable())))
	}
	if minimum := c.Cities * c.ISPs * 32; c.Subnets < minimum || c.Subnets > maxSubnets {
		errs = append(errs, fmt.Errorf("subnets %d: want %d..%d", c.Subnets, minimum, maxSubnets))
	}
	if c.V6Allocs != 0 && (c.V6Allocs < c.Cities*c.ISPs || c.V6Allocs > maxV6Allocs) {
		errs = append(errs, fmt.Errorf("v6 allocs %d: want 0 or %d..%d", c.V6Allocs, c.Cities*c.ISPs, maxV6Allocs))
	}
	if c.V6Subnets < 0 || c.V6Subnets > maxV6Subnets {
		errs = append(errs, fmt.Errorf("v6 subnets %d: want 0..%d", c.V6Subnets, maxV6Subnets))
	}
	rates := []struct {
		name string
		v    float64
	}{{"geo error rate", c.GeoErrorRate}, {"alt edge rate", c.AltEdgeRate}, {"split rate", c.SplitRate},
		{"v6 geo error rate", c.V6GeoErrorRate}}
	for _, r := range rates {
		if !(r.v >= 0 && r.v <= maxRate) {
			errs = append(errs, fmt.Errorf("%s %v: want 0..%v", r.name, r.v, maxRate))
		}
	}
	return errors.Join(errs...)
}

// city is one row of the city table: what the City database says about it.
type city struct {
	country, countryName, continent, continentName string
	name, timeZone                                 string
	lat, lon                                       float64
	geonameID                                      uint32
}

// cityTable lists the cities a world may have, in the order Config.Cities takes them.
func cityTable() []city {
	return []city{
		{"CN", "China", "AS", "Asia", "Beijing", "Asia/Shanghai", 39.9042, 116.4074, 1816670},
		{"CN", "China", "AS", "Asia", "Shanghai", "Asia/Shanghai", 31.2304, 121.4737, 1796236},
		{"CN", "China", "AS", "Asia", "Guangzhou", "Asia/Shanghai", 23.1291, 113.2644, 1809858},
		{"SG", "Singapore", "AS", "Asia", "Singapore", "Asia/Singapore", 1.3521, 103.8198, 1880252},
		{"JP", "Japan", "AS", "Asia", "Tokyo", "Asia/Tokyo", 35.6762, 139.6503, 1850147},
		{"JP", "Japan", "AS", "Asia", "Osaka", "Asia/Tokyo", 34.6937, 135.5023, 1853909},
		{"DE", "Germany", "EU", "Europe", "Frankfurt", "Europe/Berlin", 50.1109, 8.6821, 2925533},
		{"US", "United States", "NA", "North America", "Ashburn", "America/New_York", 39.0438, -77.4874, 4744870},
	}
}

// isp is one row of the ISP table. The ASNs are from the documentation range (RFC 5398).
type isp struct {
	name, org string
	asn       uint32
}

// ispTable lists the ISPs a world may have, in the order Config.ISPs takes them.
func ispTable() []isp {
	return []isp{
		{"Example Telecom", "Example Telecom Co., Ltd.", 64496},
		{"Sample Unicom", "Sample Unicom Network Co.", 64497},
		{"Demo Mobile", "Demo Mobile Communications", 64498},
		{"Test Cable", "Test Cable Broadband Inc.", 64499},
	}
}
