// Package api is the HTTP front door of httpdns: it parses and validates requests, works out the
// end user's address, asks the resolver, and writes the answers in the Alibaba Cloud HTTPDNS JSON
// shapes, so that existing SDKs can switch over. It holds no DNS logic: everything behind
// Resolver.Resolve (policy, location, cache, upstreams) belongs to package resolver.
//
// New builds two handlers. Public serves apps and SDKs; Admin serves operators and is meant for a
// separate, internal listener.
//
// # Public endpoints
//
//	GET /d?host=NAME[&ip=ADDR][&query=4|6|4,6]
//	    200 {"host":"api.example.com","client_ip":"1.2.3.4","ips":["…"],"ipsv6":["…"],
//	         "ttl":N,"origin_ttl":N,"scope":"…"}
//	GET /resolve?host=NAME,NAME…[&ip=ADDR][&query=4|6|4,6]
//	    200 {"dns":[{"host":"…","client_ip":"…","ips":["…"],"type":1,"ttl":N,"origin_ttl":N}, …]}
//	GET /dns-query?dns=BASE64URL, POST /dns-query (application/dns-message)   RFC 8484 (doh.go)
//	    200 application/dns-message, ID echoed, Cache-Control: max-age=N
//	GET /resolve?name=NAME[&type=T][&edns_client_subnet=P]                      Google JSON (dnsjson.go)
//	GET /dns-query?name=NAME[&type=T]  (Accept: application/dns-json)          Cloudflare JSON
//	    200 {"Status":0,"TC":false,"RD":true,"RA":true,"AD":false,"CD":false,
//	         "Question":[{"name":"…","type":1}],"Answer":[{"name":"…","type":1,"TTL":N,"data":"…"}]}
//	GET /healthz
//	    200 {"status":"ok"}
//	GET /readyz
//	    200 {"status":"ok"}, or 503 {"code":"NotReady","message":"not ready: upstreams: …"}
//
// /healthz is liveness: the process serves HTTP. /readyz is readiness, for load balancers: every
// Config.ReadyChecks passes (serve checks that the databases are loaded and that at least one upstream
// node is in the ring). Both are on both handlers.
//
// Parameters are read from the query string once; the first occurrence of each wins and others are
// ignored. An empty ip= or query= counts as absent. query= is 4 (the default), 6, 4,6 or 6,4. host
// is echoed as sent. ttl is the remaining lifetime of the answer in seconds, origin_ttl the TTL the
// upstream gave. ips and ipsv6 are always arrays, [] for a family not asked for and for a name that
// doesn't exist (that is not an error). scope is the client range the answer is cached for (a
// block, an ECS scope or a city/ISP label), omitted when empty.
//
// /d with query=4,6 resolves both families concurrently; ttl and origin_ttl are then the smaller
// non-zero of the two answers', so the client asks again when either expires, and scope is the A
// answer's. If either family fails the request fails: /d cannot say "missing" apart from "empty".
//
// /resolve lists one element per distinct host and family: hosts in request order, then families in
// query= order ("type" is 1 for A, 28 for AAAA). Hosts equal but for case or a trailing dot are
// resolved and listed once, at their first position. The batch limit (default 10) counts hosts as
// listed, duplicates included. Resolutions run concurrently, at most 8 at a time. An element whose
// resolution failed while others succeeded has "ips":[] and "error":"UpstreamUnavailable" (or
// another code from the table below); if every one failed the request fails with the first error.
// Elements carry "scope" too when it is not empty.
//
// # Client address
//
// client_ip is the address the answer was made for: ip= when given (server-side callers; IPv4 or
// IPv6 without zone, IPv4-mapped addresses unmapped), else the connection's peer. When the peer is
// inside Config.TrustedProxies and sends X-Forwarded-For, the client is the rightmost address in it
// that is not itself a trusted proxy (the leftmost if they all are); the entries left of that one
// were written by the client and are not believed. An empty or malformed entry on that walk makes
// the whole header ignored: the peer is used, and the request is not rejected for what a proxy wrote.
// Entries may carry a port ("1.2.3.4:5678", "[2001:db8::1]:443"), as some proxies add one.
//
// Config.IPParam says who may give ip= and the other doors' equivalents (cip=, edns_client_subnet,
// the ECS option): everyone (IPParamAny), only requests from a trusted proxy (IPParamTrusted), or
// nobody (IPParamOff). A choice not allowed is ignored and counted, never refused: the request is
// answered for its sender (limit.go, client.go).
//
// # Rate limit
//
// With Config.ClientQPS set, the public handler admits each sender (the peer, or a trusted proxy's
// X-Forwarded-For client, never ip=; IPv6 by /64) at most ClientQPS requests a second in bursts of
// ClientBurst, checked once before any door runs; /healthz and /readyz are exempt. Past it the
// answer is 429 with Retry-After: {"code":"TooManyRequests"} from the JSON doors, an empty body
// from RFC 8484 and DNSPod. The buckets live in a bounded table (Config.RateLimitClients). The TLS
// listener serves the same handler (NewTLSServer, Certificate), so one budget covers both.
//
// # Admin endpoints
//
//	GET  /admin/domains    200 text/plain: the whitelist
//	PUT  /admin/domains    body: the new whitelist (at most 1 MiB); 200 {"status":"ok"}
//	PUT  /admin/domains?allow_empty=1   the same, allowed to have no rules (empties the whitelist)
//	GET  /admin/fleet      200 JSON: this node's id, Redis's version of each shared document, and every
//	                       node alive by its heartbeat (admin_fleet.go); 404 NotFound without a fleet,
//	                       503 FleetUnavailable when Redis cannot be reached
//	GET  /admin/accuracy   200 JSON: the accuracy checks by tier and result, the mismatch ratio per
//	                       tier, the skipped checks by reason and the latest mismatches, newest
//	                       first (admin_accuracy.go)
//	GET  /metrics          Prometheus exposition of Config.Gatherer (404 when nil)
//	GET  /healthz          200 {"status":"ok"}
//	GET  /readyz           200 {"status":"ok"} or 503 NotReady
//
// /admin/* needs "Authorization: Bearer <admin_token>"; without a configured token it answers 403
// AdminDisabled. /metrics and /healthz are open, for scrapers and load balancers on the admin listener.
// A rejected whitelist upload leaves the current one in place. An upload without rules (empty, or
// only blank lines and comments) is refused with 400 EmptyWhitelist unless it says allow_empty=1: a
// truncated file or an empty shell variable would otherwise demote every priority domain silently.
//
// # Errors
//
// Every error is JSON, {"code":"…","message":"…"} with Content-Type application/json:
//
//	status  code                 when
//	400     MissingArgument      host= absent or empty
//	400     InvalidHost          a host is not a DNS host name: over 253 characters, a label empty or
//	                             over 63, a character not a letter, digit, hyphen or underscore, a
//	                             label starting or ending with a hyphen, an IP literal, an all-digit
//	                             top-level label; or the resolver refused the name
//	400     InvalidIP            ip= is not an IPv4/IPv6 address, or has a zone
//	400     InvalidQuery         query= is not 4, 6, 4,6 or 6,4
//	400     TooManyHosts         /resolve names more hosts than the batch limit
//	400     InvalidWhitelist     an uploaded whitelist has bad lines; the message names each, with its number
//	400     EmptyWhitelist       an uploaded whitelist has no rules and allow_empty=1 was not given
//	401     Unauthorized         /admin/*: bearer token missing or wrong (WWW-Authenticate: Bearer)
//	403     AdminDisabled        /admin/*: no admin token is configured
//	404     NotFound             no such endpoint
//	405     MethodNotAllowed     wrong method; the Allow header lists the right ones
//	413     PayloadTooLarge      whitelist or accounts upload over 1 MiB (RFC 8484 POST: over 65535 bytes)
//	409     VersionConflict      fleet: the shared whitelist or accounts changed on another node first; names the current version
//	503     FleetUnavailable     fleet: Redis unreachable, the upload changed nothing (or /admin/fleet cannot list the nodes)
//	414     URITooLong           query string over 8 KiB (MaxQueryBytes), on either handler
//	503     UpstreamUnavailable  every upstream failed and nothing stale was cached, or the request's
//	                             deadline (default 3 s) passed
//	503     NotReady             /readyz: a ready check failed; the message names each and why
//	500     InternalError        anything else, including a recovered panic; the message is always
//	                             "internal error", the details go to the log
//
// A client that goes away before its answer is ready is counted as 499 ClientClosedRequest.
//
// # Connections
//
// NewServer and LimitListener bound what a client can hold of a listener: read-header, read, write
// and idle timeouts (a request whose announced body never arrives is cut at the read timeout; idle
// keep-alive connections are closed), at most MaxHeaderBytes (64 KiB) of request line and headers,
// and a cap on open connections. Past the header limit net/http itself answers 431 Request Header
// Fields Too Large, in plain text, before any handler runs, and closes the connection; so it does
// for requests that are not HTTP/1.1 at all (400 for a broken request line or header, or no Host).
// Those are the only error answers that are not JSON.
//
// # Metrics
//
//	httpdns_http_requests_total{endpoint,code}        endpoint: d|resolve|healthz|readyz|admin_domains|admin_cidrdb|admin_fleet|metrics|other
//	httpdns_http_request_duration_seconds{endpoint}   histogram, 50 µs to 5 s
//	httpdns_http_errors_total{code}                   error answers and failed /resolve elements by error code
//
// # Performance
//
// The cache-hit /d is the service's hot path. It parses the query string once without building a map,
// appends its JSON by hand into pooled buffers, keeps its metric children resolved, and starts a
// goroutine only for query=4,6. docs/design.md §11 asks for at least half a bare net/http handler's req/s;
// compare the two in one run, whole servers on loopback and handlers alone:
//
//	go test ./api -run '^$' -bench 'Server$' -benchmem
//	go test ./api -run '^$' -bench 'BenchmarkD$|BenchmarkBareHandler$' -benchmem
package api
