package cidrdb

// WriteExampleGeo writes small City and ISP schema databases into dir for
// the package examples, which stand in for MaxMind's.
func WriteExampleGeo(dir string) (city, isp string, err error) {
	p, err := writeGeo(dir, world())
	return p.city, p.isp, err
}
