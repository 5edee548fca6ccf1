package prober

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/miekg/dns"
)

// Reply problems that make an attempt fail; the probe tries again, on
// another node when there is one.
var (
	// ErrBadReply reports a reply that does not answer the question asked
	// (dnsmsg.CheckReply); it is dnsmsg.ErrMismatch.
	ErrBadReply = dnsmsg.ErrMismatch
	// ErrBadECS reports a reply whose ECS option does not echo the query's,
	// which RFC 7871 §7.3 says to discard; it is dnsmsg.ErrECS, and such an
	// error matches ErrBadReply too.
	ErrBadECS = dnsmsg.ErrECS
	// ErrRcode reports a reply with an rcode other than NOERROR or NXDOMAIN.
	ErrRcode = errors.New("upstream error rcode")
)

// exchanger asks one upstream: UDP first, TCP when the reply is truncated.
// Queries advertise dnsmsg.UDPSize, the DNS flag day 2020 value.
type exchanger struct {
	udp, tcp *dns.Client
}

func newExchanger() *exchanger {
	return &exchanger{
		udp: &dns.Client{Net: "udp", UDPSize: dnsmsg.UDPSize},
		tcp: &dns.Client{Net: "tcp"},
	}
}

// answer is what a probe keeps of a valid reply.
type answer struct {
	ips   []netip.Addr // unique, sorted, at most dnsmsg.MaxAddrs
	rcode int
	scope int // -1 without an ECS option in the reply
}

// ask sends the question (name, qtype) with ECS source src to node and
// validates the reply. ctx bounds the whole attempt. A truncated UDP reply
// is asked again over TCP only if spend (when not nil) allows one more
// query: the TCP retry is a query of the budget too.
func (e *exchanger) ask(ctx context.Context, node, name string, qtype uint16, src netip.Prefix, spend func() bool) (answer, error) {
	q := dnsmsg.NewQuery(name, qtype, src)
	r, _, err := e.udp.ExchangeContext(ctx, q, node)
	if err == nil && r.Truncated {
		if spend != nil && !spend() {
			return answer{}, errBudget
		}
		r, _, err = e.tcp.ExchangeContext(ctx, q, node)
	}
	if err != nil {
		return answer{}, err
	}
	return parseReply(q, r)
}

// parseReply checks that r answers q (dnsmsg.CheckReply: header, question,
// ECS echo per RFC 7871 §7.3) with a usable rcode, and flattens its CNAME
// chain to the final addresses (dnsmsg.Parse).
func parseReply(q, r *dns.Msg) (answer, error) {
	if err := dnsmsg.CheckReply(q, r); err != nil {
		return answer{}, err
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return answer{}, fmt.Errorf("%w %s", ErrRcode, dns.RcodeToString[r.Rcode])
	}
	q0 := q.Question[0]
	p := dnsmsg.Parse(r, q0.Name, q0.Qtype, 0)
	return answer{ips: p.IPs, rcode: p.Rcode, scope: p.Scope}, nil
}
