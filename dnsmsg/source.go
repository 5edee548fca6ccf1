package dnsmsg

import "net/netip"

// ECS source prefix lengths sent upstream: a /24 or a /56 is as precise as CDNs map clients and what
// RFC 7871 §11.1 recommends so that the option does not identify a single client.
const (
	SourceBits4 = 24
	SourceBits6 = 56
)

// SourceBits is the ECS source prefix length for addr's family: [SourceBits4] for IPv4 (IPv4-mapped
// IPv6 included), [SourceBits6] for IPv6.
func SourceBits(addr netip.Addr) int {
	if addr.Unmap().Is4() {
		return SourceBits4
	}
	return SourceBits6
}

// Source is the ECS source prefix to send for a client: its /24 (IPv4) or /56 (IPv6), or an invalid
// prefix when no ECS may be sent because the address is [Special]. An IPv4-mapped or NAT64 address
// is an IPv4 client ([Unwrap]) and gets its IPv4 /24. A client without a source is answered like a
// client without a location (RFC 7871 §11: such addresses say nothing about where the client is and
// must not leave us).
func Source(client netip.Addr) netip.Prefix {
	client = Unwrap(client)
	if Special(client) {
		return netip.Prefix{}
	}
	p, _ := client.Prefix(SourceBits(client))
	return p
}

// Unwrap returns the IPv4 client an address stands for when it is IPv4-mapped (::ffff:0:0/96) or
// NAT64 with the well-known prefix (64:ff9b::/96, RFC 6052): a translator put the client's IPv4
// address in its last 32 bits, and that address, not the shared /96, says where the client is.
// Any other address is returned as is.
func Unwrap(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	if !addr.Is6() {
		return addr
	}
	a := addr.As16()
	if a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && zero(a[4:12]) {
		return netip.AddrFrom4([4]byte(a[12:16]))
	}
	return addr
}

// Special reports whether addr is a special-purpose address that never produces ECS (RFC 7871 §11,
// the RFC 6890 special-purpose registries). The zero Addr is special. An IPv4 address is special in
//
//   - 0.0.0.0/8 (this network), 10/8, 172.16/12 and 192.168/16 (private), 100.64/10 (CGNAT),
//     127/8 (loopback), 169.254/16 (link-local), 192.0.0/24 (IETF protocol assignments),
//     192.0.2/24, 198.51.100/24 and 203.0.113/24 (documentation), 192.88.99/24 (6to4 relay
//     anycast), 198.18/15 (benchmarking), 224/4 (multicast), 240/4 (reserved, with
//     255.255.255.255).
//
// An IPv6 address is special when it is
//
//   - outside 2000::/3, the only IPv6 space allocated for global unicast (RFC 4291 §2.4): this covers
//     :: (unspecified), ::1 (loopback), the deprecated IPv4-compatible ::/96, 100::/64 (discard-only,
//     RFC 6666), fc00::/7 (ULA), fe80::/10 (link-local), fec0::/10 (site-local, RFC 3879), ff00::/8
//     (multicast) and 64:ff9b:1::/48 (local-use NAT64, RFC 8215, not globally reachable);
//   - except IPv4-mapped ::ffff:0:0/96 and NAT64 64:ff9b::/96 (RFC 6052), which are special exactly
//     when the IPv4 address in their last 32 bits is;
//   - in 2001::/23, IETF protocol assignments (RFC 2928), holding Teredo 2001::/32 (RFC 4380) and
//     benchmarking 2001:2::/48 (RFC 5180). A Teredo address hides its client's IPv4 (the last 32
//     bits, inverted) behind the Teredo server's (bits 32–63), so its /56 names a Teredo server, never
//     the client's location: Teredo clients never get ECS, whatever they embed;
//   - in 2001:db8::/32 or 3fff::/20, documentation (RFC 3849, RFC 9637);
//   - in 2002::/16, 6to4 (RFC 3056), when the IPv4 address in bits 16–47 is special.
//
// A 6to4 address that embeds a public IPv4 is treated as any IPv6 client and gets its /56, which
// names one 6to4 site, the granularity RFC 7871 §11.1 accepts for every IPv6 client. A NAT64 address
// that embeds a public IPv4 stands for that IPv4 client ([Unwrap]): its /56 would be the same for
// every client behind every translator.
func Special(addr netip.Addr) bool {
	switch {
	case !addr.IsValid():
		return true
	case addr.Is4():
		return special4(addr.As4())
	case addr.Is4In6():
		return special4(addr.Unmap().As4())
	}
	a := addr.As16()
	switch {
	case a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && zero(a[4:12]): // 64:ff9b::/96
		return special4([4]byte(a[12:16]))
	case a[0]&0xe0 != 0x20: // outside 2000::/3
		return true
	case a[0] == 0x20 && a[1] == 0x01 && a[2]&0xfe == 0x00: // 2001::/23
		return true
	case a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8: // 2001:db8::/32
		return true
	case a[0] == 0x3f && a[1] == 0xff && a[2]&0xf0 == 0x00: // 3fff::/20
		return true
	case a[0] == 0x20 && a[1] == 0x02: // 2002::/16
		return special4([4]byte(a[2:6]))
	}
	return false
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// range4 is an IPv4 network given as its first address and prefix length.
type range4 struct {
	first uint32
	bits  int
	what  string
}

// special4Ranges are the IPv4 networks of the RFC 6890 special-purpose registry (as updated) that
// are not globally reachable client addresses.
var special4Ranges = [...]range4{
	{0x00000000, 8, "this network (RFC 791)"},
	{0x0a000000, 8, "private (RFC 1918)"},
	{0x64400000, 10, "shared address space, CGNAT (RFC 6598)"},
	{0x7f000000, 8, "loopback (RFC 1122)"},
	{0xa9fe0000, 16, "link-local (RFC 3927)"},
	{0xac100000, 12, "private (RFC 1918)"},
	{0xc0000000, 24, "IETF protocol assignments (RFC 6890)"},
	{0xc0000200, 24, "documentation TEST-NET-1 (RFC 5737)"},
	{0xc0586300, 24, "6to4 relay anycast, deprecated (RFC 7526)"},
	{0xc0a80000, 16, "private (RFC 1918)"},
	{0xc6120000, 15, "benchmarking (RFC 2544)"},
	{0xc6336400, 24, "documentation TEST-NET-2 (RFC 5737)"},
	{0xcb007100, 24, "documentation TEST-NET-3 (RFC 5737)"},
	{0xe0000000, 4, "multicast (RFC 5771)"},
	{0xf0000000, 4, "reserved (RFC 1112), with limited broadcast 255.255.255.255"},
}

// special4 reports whether a lies in one of special4Ranges.
func special4(a [4]byte) bool {
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	for _, r := range special4Ranges {
		if v>>(32-r.bits) == r.first>>(32-r.bits) {
			return true
		}
	}
	return false
}
