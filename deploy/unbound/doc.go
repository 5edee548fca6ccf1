// Package unbound is the deployment example and end-to-end test of httpdns with Unbound as its
// recursive layer: Unbound's subnetcache module forwards the EDNS Client Subnet option httpdns
// sends (RFC 7871) to the simulated CDN authoritative of internal/cdnsim and caches answers per
// the scope it returns.
//
// unbound.conf.tmpl is the Unbound configuration; deploy/README.md shows how to run the whole
// chain by hand. The package's test runs it: it skips unless unbound is on PATH
// (apt-get install unbound), then starts the authoritative, Unbound and a built httpdns binary on
// 127.0.0.1 and checks httpdns's answers against the world's ground truth:
//
//	go test -v ./deploy/unbound/
//
// The package has no code of its own; it exists for its test and its configuration file.
package unbound
