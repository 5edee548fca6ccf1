// Package cidrdb locates client addresses: which block of the adaptive
// subnet library (the CIDRDB) an address sits in, and its country, city,
// ISP and ASN.
//
// # Why blocks
//
// The resolver caches answers per block rather than per client /24 or per
// city+ISP: a block is a set of networks that the CDNs themselves answer
// alike, learnt offline by the prober from ECS probes (RFC 7871). A block
// may be one network or several that share a block_id when it is not
// CIDR-aligned (10.1.1.0/24 + 10.1.2.0/24, which no /23 covers). Its
// canonical key, [Location.Block], is its lowest network, so the key of a
// block the prober left alone survives a reload of the library.
//
// # Where a location comes from
//
// [DB.Locate] first unmaps an IPv4-mapped IPv6 address, then:
//
//   - inside the CIDRDB, the block's record gives block_id, country, city,
//     ISP and ASN, and [Location.Network] is the network of the block that
//     holds the address, whose prefix length the resolver compares with the
//     ECS scope of upstream answers;
//   - outside it, or without a CIDRDB, the block is the address's /24
//     (IPv4) or /56 (IPv6), the ECS source prefixes; the MaxMind City
//     database gives the country (country.iso_code) and city
//     (city.names.en), and the ISP database its `isp` (ISP schema) or
//     `autonomous_system_organization` (ASN schema) and
//     `autonomous_system_number`.
//
// An IPv6 address that reaches an IPv4 block through the IPv4 aliases of an
// mmdb tree (::ffff:0:0/96, 6to4 2002::/16, Teredo 2001::/32) is not in
// that block: blocks never mix address families.
//
// [DB.Siblings] lists the blocks the resolver refreshes along with one it
// just refreshed (sibling prefetch): CIDRDB blocks of the same country,
// city and ISP nearest by address, or, outside the CIDRDB, neighbouring
// /24s (/56s) located alike.
//
// # Safety
//
// [Open] validates everything before a DB exists. Every database is read
// whole into memory; its type must fit its role; its structure is checked
// (format, and a search tree read node by node: pointers in range, no path
// longer than an address, a tree of node_count nodes, so walking it is
// bounded); every network is walked and every record decoded, the geo
// databases' into the fields Locate reads, the CIDRDB's against the schema
// below. Optional metadata (description, languages, build_epoch) is not
// required: maxminddb's Verify, which requires a description, is not used.
// A bad file is refused with an error naming the file, the network and the
// field ([ErrWrongType], [ErrFormat], [ErrSchema], [ErrEmpty]), so a reload
// can keep the DB it had, and Locate never meets a record it cannot read.
//
// # CIDRDB schema
//
// A CIDRDB is a MaxMind DB file (https://maxmind.github.io/MaxMind-DB/)
// that any mmdb writer can produce. Its metadata has database_type
// "HTTPDNS-CIDRDB"; its tree should be IPv6 (ip_version 6, IPv4 networks in
// ::/96 as usual, or in ::ffff:0:0/96 by writers that do not alias it: an
// IPv4-only tree serves IPv4 clients only). It holds at least one network,
// none wider than /8 (IPv4, [MinBitsIPv4]) or /16 (IPv6, [MinBitsIPv6]),
// and each network's record is a map with these keys:
//
//	key       type    meaning
//	block_id  uint32  the block; non-zero; several networks may share one
//	country   string  ISO 3166-1 alpha-2 code, "" when unknown
//	city      string  English city name, "" when unknown
//	isp       string  ISP name, "" when unknown
//	asn       uint32  autonomous system number, 0 when unknown
//
// block_id is required; a missing optional key reads as unknown. A uint32
// may be stored as any unsigned integer (or non-negative int32) whose value
// fits; strings are UTF-8, a country two capital letters. All networks
// of one block_id are of one address family and carry the same country,
// city, isp and asn. Keys beyond these, of any type, are ignored.
// [WriteFile] writes such a file atomically and [ReadFile] reads one back;
// Open rejects a file that breaks these rules with [ErrWrongType],
// [ErrFormat], [ErrSchema] or [ErrEmpty].
package cidrdb
