package cdnsim

import (
	"net"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size the server advertises (the DNS flag day 2020 value).
const ednsSize = 1232

// ServeDNS answers one query; it makes Server a dns.Handler.
func (s *Server) ServeDNS(rw dns.ResponseWriter, req *dns.Msg) {
	s.count(req)
	if !s.wait() {
		return
	}
	b := Behavior(s.behavior.Load())
	if b == Silent {
		return
	}
	_, udp := rw.RemoteAddr().(*net.UDPAddr)
	_ = rw.WriteMsg(s.reply(req, b, udp)) // a client that went away needs no answer
}

// reply builds the response to req under behaviour b.
func (s *Server) reply(req *dns.Msg, b Behavior, udp bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	opt := req.IsEdns0()
	if opt != nil {
		m.SetEdns0(ednsSize, opt.Do())
	}
	ecs, prefix, ok := queryECS(opt)
	switch {
	case len(req.Question) != 1 || !ok:
		return m.SetRcode(req, dns.RcodeFormatError)
	case req.Opcode != dns.OpcodeQuery:
		return m.SetRcode(req, dns.RcodeNotImplemented)
	case opt != nil && opt.Version() != 0:
		return m.SetRcode(req, dns.RcodeBadVers) // RFC 6891 §6.1.3
	case b == ServFail:
		return m.SetRcode(req, dns.RcodeServerFailure)
	case b == Refuse, req.Question[0].Qclass != dns.ClassINET:
		return m.SetRcode(req, dns.RcodeRefused)
	}
	q := req.Question[0]
	res := s.world.lookup(q.Name, q.Qtype, prefix)
	m.Rcode = res.rcode
	m.Authoritative = res.rcode != dns.RcodeRefused
	fill(m, q, res)
	if echo := echoECS(ecs, res.scope); b == BadECS {
		setECS(m, badECS(echo))
	} else if echo != nil {
		setECS(m, echo)
	}
	if udp && b == Truncate {
		m.Truncated, m.Answer, m.Ns = true, nil, nil
	} else if udp {
		m.Truncate(udpSize(req))
	}
	return m
}

// fill puts res into m's answer and authority sections.
func fill(m *dns.Msg, q dns.Question, res result) {
	owner := q.Name // as asked: the client may check the case it sent
	for _, h := range res.chain {
		m.Answer = append(m.Answer, &dns.CNAME{Hdr: header(owner, dns.TypeCNAME, h.ttl), Target: dns.Fqdn(h.target)})
		owner = dns.Fqdn(h.target)
	}
	for _, ip := range res.ips {
		if ip.Is4() {
			m.Answer = append(m.Answer, &dns.A{Hdr: header(owner, dns.TypeA, res.ttl), A: ip.AsSlice()})
		} else {
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: header(owner, dns.TypeAAAA, res.ttl), AAAA: ip.AsSlice()})
		}
	}
	if res.soa {
		m.Answer = append(m.Answer, soa(soaTTL))
	}
	if res.negative {
		m.Ns = append(m.Ns, soa(negativeTTL)) // RFC 2308 §3: TTL = min(SOA TTL, minimum)
	}
}

// header is an IN-class RR header.
func header(name string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

// soa is the zone's SOA record; its minimum is the negative TTL.
func soa(ttl uint32) *dns.SOA {
	return &dns.SOA{
		Hdr: header(dns.Fqdn(Zone), dns.TypeSOA, ttl), Ns: "ns." + Zone + ".", Mbox: "hostmaster." + Zone + ".",
		Serial: 2025010101, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: negativeTTL,
	}
}

// udpSize is the largest UDP reply the client takes: its EDNS size, 512 without EDNS.
func udpSize(req *dns.Msg) int {
	if opt := req.IsEdns0(); opt != nil {
		return max(dns.MinMsgSize, int(opt.UDPSize()))
	}
	return dns.MinMsgSize
}

// queryECS returns the query's ECS option and its prefix (invalid without one). ok is false for
// an option a server must answer FORMERR (RFC 7871 §7.1.2): address bits set past the source
// prefix length.
func queryECS(opt *dns.OPT) (e *dns.EDNS0_SUBNET, prefix netip.Prefix, ok bool) {
	if opt == nil {
		return nil, netip.Prefix{}, true
	}
	for _, o := range opt.Option {
		if e, isECS := o.(*dns.EDNS0_SUBNET); isECS {
			var a netip.Addr
			switch e.Family {
			case 0: // dig's way of saying "source /0"; the library rejects other lengths
				a = netip.IPv4Unspecified()
			case 1:
				a, _ = netip.AddrFromSlice(e.Address.To4())
			default:
				a, _ = netip.AddrFromSlice(e.Address.To16())
			}
			p := netip.PrefixFrom(a, int(e.SourceNetmask))
			return e, p, p.IsValid() && p.Masked() == p
		}
	}
	return nil, netip.Prefix{}, true
}

// echoECS is the reply's ECS option: the query's family, source length and address, and the
// scope (RFC 7871 §7.2.1). It is nil when the query had no option.
func echoECS(q *dns.EDNS0_SUBNET, scope int) *dns.EDNS0_SUBNET {
	if q == nil {
		return nil
	}
	return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: q.Family, SourceNetmask: q.SourceNetmask,
		SourceScope: uint8(scope), Address: q.Address}
}

// badECS returns an option that fails RFC 7871 §7.3's echo check against the query's option e.
func badECS(e *dns.EDNS0_SUBNET) *dns.EDNS0_SUBNET {
	if e == nil {
		return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, SourceScope: 24,
			Address: net.IPv4(192, 0, 2, 0).To4()}
	}
	out := *e
	switch {
	case e.SourceNetmask == 0 && e.Family == 2:
		out.Family, out.Address = 1, net.IPv4zero.To4()
	case e.SourceNetmask == 0:
		out.Family, out.Address = 2, net.IPv6zero
	default:
		ip := slices.Clone(e.Address.To16())
		if e.Family == 1 {
			ip = slices.Clone(e.Address.To4())
		}
		bit := int(e.SourceNetmask) - 1
		ip[bit/8] ^= 0x80 >> (bit % 8)
		out.Address = ip
	}
	return &out
}

// setECS puts e into m's OPT record, adding one if m has none.
func setECS(m *dns.Msg, e *dns.EDNS0_SUBNET) {
	opt := m.IsEdns0()
	if opt == nil {
		m.SetEdns0(ednsSize, false)
		opt = m.IsEdns0()
	}
	opt.Option = append(opt.Option, e)
}
