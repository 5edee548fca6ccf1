// Package dnsmsg is the service's one implementation of the DNS messages it exchanges with upstream
// recursive nodes, shared by the resolver (live queries) and the prober (ECS probes), so the two cannot
// drift apart.
//
// A query is built by [NewQuery]: one question, RD set, EDNS with a UDP payload size of [UDPSize]
// (1232, DNS Flag Day 2020) and, when the caller has a source prefix, an EDNS Client Subnet option
// (RFC 7871 §6). The prefix for a client comes from [Source]: the client's /24 (IPv4) or /56 (IPv6)
// as RFC 7871 §11.1 recommends, or nothing at all for a [Special] address — loopback, private,
// link-local, CGNAT, benchmarking, documentation, reserved, multicast and the other special-purpose
// ranges of RFC 6890, also when such an IPv4 address hides inside an IPv4-mapped, 6to4 or NAT64
// address, and every Teredo address. Such an address says nothing about where its client is, and
// RFC 7871 §11 asks that it never leave us.
//
// A reply is first checked by [CheckReply] (ID, QR, opcode, exactly the question asked, and the ECS
// echo of RFC 7871 §7.3); failures match [ErrMismatch], ECS ones [ErrECS] too. Then [Parse] keeps what
// the service caches: the addresses at the end of the CNAME chain (deduplicated, sorted, at most
// [MaxAddrs]), the rcode, the TTL (the chain's smallest, or the negative TTL of RFC 2308 §5), whether
// the answer is negative, and the ECS scope.
//
// [CanonicalName] is the one host-name grammar: the HTTP API validates hosts with it, the resolver
// canonicalises names with it, and the prober reads its domain lists with it.
//
// The package imports no other package of the project.
package dnsmsg
