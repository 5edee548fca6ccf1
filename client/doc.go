// Package client is a Go client of HTTPDNS that does IP direct connect right: it resolves names
// through httpdns's /d and /resolve (or the Alibaba Cloud HTTPDNS v1 door, signed or not) and
// connects to the answers while TLS still sends and verifies the real host name.
//
// It does what app developers keep asking the vendors' SDKs for, and where naive clients go wrong
// (docs/design.md §10.5):
//
//   - every IP of an answer is used: DialContext races them (Happy Eyeballs, RFC 8305: IPv6 and
//     IPv4 interleaved, a new attempt every 250 ms or as soon as one fails, first connection
//     wins, the others closed), and remembers which failed, so a dead edge costs one failed
//     attempt, not a failed request;
//   - an expired answer is returned at once and refreshed in the background, up to MaxStale
//     (serve-stale, RFC 8767), and concurrent lookups of one name share one request;
//   - PreResolve warms names at start, in batches of the server's limit;
//   - when every server fails, a server refuses the request, or a server has no address for a
//     name, the local resolver (net.Resolver, configurable, can be off) answers, and
//     Answer.Source says which did;
//   - Transport keeps the host name in the URL, so the Host header, SNI and the certificate
//     check use the name while TCP goes to the chosen IP; nothing skips verification;
//   - NetworkChanged, or a server reporting another client_ip, drops the cached answers (they
//     were chosen for the old network's address) and resolves the pre-resolved names again;
//   - servers are tried in order, a failed one tried last for a penalty; the cache can be saved
//     to a file (atomically) so a restart starts warm; Hooks report lookups by source, server
//     requests, dials and network changes for metrics.
//
// A Go service swaps http.DefaultTransport for the client's:
//
//	c, err := client.New(client.Config{Servers: []string{"https://httpdns.example.com"}})
//	if err != nil { ... }
//	defer c.Close()
//	hc := &http.Client{Transport: c.Transport()}
//	resp, err := hc.Get("https://api.example.com/v1/items")
//
// The package uses only the standard library and golang.org/x/sync/singleflight.
package client
