package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size probes advertise (the DNS flag day 2020
// value); a truncated reply is asked again over TCP.
const ednsSize = 1232

// Reply problems that make an attempt fail; the probe tries again, on
// another node when there is one.
var (
	// ErrBadReply reports a reply that does not answer the question asked.
	ErrBadReply = errors.New("reply does not match the query")
	// ErrBadECS reports a reply whose ECS option does not echo the query's,
	// which RFC 7871 §7.3 says to discard.
	ErrBadECS = errors.New("reply ECS option does not echo the query")
	// ErrRcode reports a reply with an rcode other than NOERROR or NXDOMAIN.
	ErrRcode = errors.New("upstream error rcode")
)

// exchanger asks one upstream: UDP first, TCP when the reply is truncated.
type exchanger struct {
	udp, tcp *dns.Client
}

func newExchanger() *exchanger {
	return &exchanger{
		udp: &dns.Client{Net: "udp", UDPSize: ednsSize},
		tcp: &dns.Client{Net: "tcp"},
	}
}

// answer is what a probe keeps of a valid reply.
type answer struct {
	ips   []netip.Addr
	rcode int
	scope int // -1 without an ECS option in the reply
}

// ask sends the question (name, qtype) with ECS source src to node and
// validates the reply. ctx bounds the whole attempt.
func (e *exchanger) ask(ctx context.Context, node, name string, qtype uint16, src netip.Prefix) (answer, error) {
	q := newQuery(name, qtype, src)
	r, _, err := e.udp.ExchangeContext(ctx, q, node)
	if err == nil && r.Truncated {
		r, _, err = e.tcp.ExchangeContext(ctx, q, node)
	}
	if err != nil {
		return answer{}, err
	}
	return parseReply(q, r, src)
}

// newQuery builds a probe: one question, RD set (the upstreams are
// recursive nodes), an EDNS0 OPT with the client subnet option.
func newQuery(name string, qtype uint16, src netip.Prefix) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(ednsSize)
	opt.Option = append(opt.Option, ecsOption(src))
	m.Extra = append(m.Extra, opt)
	return m
}

func ecsOption(src netip.Prefix) *dns.EDNS0_SUBNET {
	e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, SourceNetmask: uint8(src.Bits())}
	if src.Addr().Is4() {
		e.Family = 1
		e.Address = net.IP(src.Addr().AsSlice()).To4()
	} else {
		e.Family = 2
		e.Address = net.IP(src.Addr().AsSlice())
	}
	return e
}

// parseReply checks that r answers q (question, ECS echo per RFC 7871
// §7.3, rcode) and flattens its CNAME chain to the final addresses.
func parseReply(q, r *dns.Msg, src netip.Prefix) (answer, error) {
	if len(r.Question) != 1 || !sameQuestion(r.Question[0], q.Question[0]) {
		return answer{}, ErrBadReply
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return answer{}, fmt.Errorf("%w %s", ErrRcode, dns.RcodeToString[r.Rcode])
	}
	scope, err := echoScope(r, src)
	if err != nil {
		return answer{}, err
	}
	q0 := q.Question[0]
	return answer{ips: finalAddrs(r, q0.Name, q0.Qtype), rcode: r.Rcode, scope: scope}, nil
}

func sameQuestion(a, b dns.Question) bool {
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && dns.CanonicalName(a.Name) == dns.CanonicalName(b.Name)
}

// echoScope returns the scope of r's ECS option, -1 without one, or
// ErrBadECS when the option's family, source length or address differ
// from what was sent.
func echoScope(r *dns.Msg, src netip.Prefix) (int, error) {
	opt := r.IsEdns0()
	if opt == nil {
		return -1, nil
	}
	for _, o := range opt.Option {
		e, ok := o.(*dns.EDNS0_SUBNET)
		if !ok {
			continue
		}
		addr, ok := netip.AddrFromSlice(e.Address)
		if src.Addr().Is4() {
			addr = addr.Unmap()
		}
		wantFamily := uint16(2)
		if src.Addr().Is4() {
			wantFamily = 1
		}
		if !ok || e.Family != wantFamily || int(e.SourceNetmask) != src.Bits() ||
			netip.PrefixFrom(addr, src.Bits()).Masked() != src || int(e.SourceScope) > src.Addr().BitLen() {
			return 0, fmt.Errorf("%w: sent %s, got %s", ErrBadECS, src, e)
		}
		return int(e.SourceScope), nil
	}
	return -1, nil
}

// finalAddrs follows the CNAME chain from qname inside the answer section
// and returns the qtype addresses at its end, canonical (sorted, unique).
func finalAddrs(r *dns.Msg, qname string, qtype uint16) []netip.Addr {
	name := dns.CanonicalName(qname)
	var ips []netip.Addr
	for range 16 { // bounds a CNAME loop
		next := ""
		for _, rr := range r.Answer {
			if dns.CanonicalName(rr.Header().Name) != name {
				continue
			}
			switch v := rr.(type) {
			case *dns.CNAME:
				next = dns.CanonicalName(v.Target)
			case *dns.A:
				if a, ok := netip.AddrFromSlice(v.A.To4()); ok && qtype == dns.TypeA {
					ips = append(ips, a)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(v.AAAA.To16()); ok && qtype == dns.TypeAAAA {
					ips = append(ips, a)
				}
			}
		}
		if len(ips) > 0 || next == "" {
			break
		}
		name = next
	}
	return canonicalAnswers(ips)
}
