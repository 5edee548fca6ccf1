// Package console is the operators' web console, served at /console/ on the admin listener
// (docs/design.md §10.4): plain HTML, CSS and JavaScript embedded in the binary, no framework, no
// CDN, no build step.
//
// The pages hold no data and are served without a token; they ask for the admin token, keep it in
// the tab's sessionStorage and send it as an Authorization bearer header to /console/api/ and to
// the admin API itself (GET|PUT /admin/domains, /admin/accounts, GET /admin/fleet), never in a URL.
// The api mounts /console/api/ behind the same token check as /admin/*. Every answer carries a
// Content-Security-Policy of 'self' only (no inline script), frame-ancestors 'none' and nosniff.
//
// The data endpoints:
//
//	GET  /console/api/overview          the last hour of samples of the metrics registry (ring.go)
//	GET  /console/api/lookup            resolver.Explain: what a client gets for a name, and why
//	POST /console/api/validate          a whitelist checked line by line, nothing applied
//	GET  /console/api/history           the last uploads of the whitelist and the accounts
//	GET  /console/api/cidrdb            the CIDRDB's metadata, blocks by city and ISP, the diff
//	                                    since the last swap, the last probe report
//	GET  /console/api/cidrdb/lookup     an address's block and location
//	GET  /console/api/cidrdb/map.png    the IPv4 blocks on a Hilbert curve
//
// The overview samples the registry the service already exports (prometheus.Gatherer), so it
// works without a Prometheus server: every Interval it gathers, and the difference from the last
// gather becomes one Sample of rates and ratios in a fixed ring.
package console
