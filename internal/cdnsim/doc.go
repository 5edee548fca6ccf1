// Package cdnsim simulates the part of the Internet an HTTPDNS service lives in: clients in
// cities and ISPs, an IP library that is wrong about a few of them, and CDNs whose ECS-aware
// authoritative DNS answers each client subnet with its own edge. Tests of every package, the
// `httpdns demo` command, the prober and the cache benchmarks run against it, and judge answers
// against its ground truth.
//
// # The world
//
// NewWorld builds a World from a Config, deterministically from Config.Seed. By default it has
// five cities in three countries (Beijing, Shanghai, Guangzhou in CN; Singapore; Tokyo) and three
// ISPs with documentation ASNs (RFC 5398); every (city, ISP) pair is a Region. Each region owns
// several IPv4 allocations of /16 to /20 (about 4096 /24s in all by default) laid out in a shuffled
// order inside 20.0.0.0–60.255.255.255, so allocations of different regions sit next to each other
// and a region is not contiguous; and IPv6 allocations inside 2400::/16, one /40 each by default,
// or with Config.V6Allocs (EvalConfig) that many of /32 to /40, shuffled the same way. IPv6 clients
// live in /56s handed out in runs from /48 pools (Subnets6). None of these ranges is private,
// loopback, link-local or documentation space, so a resolver sends ECS for them; nothing is ever
// sent to them.
//
// Every address has a true region (TrueRegion). The IP library (GeoRegion, and the MaxMind-schema
// City and ISP databases WriteGeoDBs writes) agrees except on Config.GeoErrorRate of the IPv4 /24s
// (Misplaced), which it puts in another ISP of the same city, another city of the same ISP, or
// both, in runs of one to four /24s, and except on the /48 pools of about Config.V6GeoErrorRate of
// the client /56s (Misplaced6). Those are where a city+ISP cache misroutes.
//
// # The CDNs
//
// Five providers partition the world into blocks (Blocks) inside the true regions, each its own
// way, and route every block to an edge site (Block.Edge): mostly the region's main site, but
// Config.AltEdgeRate of the blocks go to one of the region's two alternate sites, so even a correct
// city+ISP view is not uniform. Distinct regions never share a site; blocks of one region do.
//
//	cdn-a  honest  aligned /20 blocks
//	cdn-b  echo    aligned /22 blocks
//	cdn-c  honest  aligned /21 blocks; Config.SplitRate of the /24s cut into /26s with other edges
//	cdn-d  honest  runs of 1–12 adjacent /24s, mostly not CIDR-aligned
//	cdn-e  echo    runs of 2–9 adjacent /24s
//
// IPv6 blocks are aligned prefixes of /40 to /48 per provider (cdn-a /44, cdn-b /40, cdn-c /40,
// cdn-d /48, cdn-e /44), 10% of them cut into /48, /56 or /52 pieces (cdn-b, cdn-c, cdn-e) that go
// to the block's site or another one at random; too many to list, they are a function of the
// address (Block6). An honest
// provider's ECS scope (RFC 7871 §7.2.1) is the prefix length of the CIDR piece of the block that
// holds the client (a block that is not aligned has several pieces, see Block.Prefixes), and may
// be longer than the source prefix (26 inside a split /24). An echo provider, like many lazy CDNs,
// always returns the source prefix length. A query without ECS, or with a /0 source, gets the
// provider's default site with scope 0, as a real CDN answers by the resolver's own address, which
// is outside the world here; an ECS address outside the world gets the default site too, with the
// honest scope of the largest prefix around it holding no world address.
//
// # The names
//
// All names are under the Zone "test" (Domains): two or three per provider (img.cdn-a.test,
// api.cdn-a.test, shop.cdn-a.test, video.cdn-b.test, live.cdn-b.test, static.cdn-c.test,
// dl.cdn-c.test, news.cdn-d.test, m.cdn-d.test, pay.cdn-e.test, feed.cdn-e.test), each with A and
// AAAA answers from its own host numbers at the edge site (edge sites are 61+i.x.y.0/24 and
// 2001:db8:f0ii:site::/64 for provider i), TTLs from 30 to 600 s, and one or two addresses; global
// names with one answer for everyone and scope 0 (www.portal.test with three A and one AAAA,
// ntp.portal.test with A only so AAAA is NODATA, pool.portal.test with 40 A records, too many for
// 512-byte UDP); and www.shop.test, a CNAME (TTL 45) to shop.cdn-a.test (TTL 120). Every other name
// under the zone is NXDOMAIN with the SOA (minimum 60) in the authority section; the names in
// between (cdn-a.test, portal.test) are empty non-terminals and answer NODATA (RFC 8020).
//
// Answer is the authoritative answer for an ECS prefix; Truth is the answer for one exact client
// address, the ground truth a cached answer is judged by.
//
// # The server
//
// Serve (or StartTest in tests) runs the authoritative server over UDP and TCP on one port. It
// sets AA, copies the question, echoes the query's ECS option with the scope (none without one),
// answers FORMERR to an ECS option with address bits past its source prefix length, REFUSED
// outside the zone, NODATA with the SOA for other types, and truncates UDP replies to the
// client's EDNS size (512 bytes without EDNS). SetBehavior scripts failures (silence, SERVFAIL,
// truncation, REFUSED, a wrong ECS echo), SetDelay slows it down, and Queries and QueriesFor count
// what it received.
package cdnsim
