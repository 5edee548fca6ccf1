package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/miekg/dns"
)

// Forward asks the recursive layer q's one question and returns its reply, uncached: the DNS-message
// doors (RFC 8484, Google and Cloudflare JSON) answer every type this way except A and AAAA, which go
// through Resolve and the tiered cache. Forward never refuses a type: HTTPS, MX, TXT, CNAME, SOA, ...
// are asked as they come.
//
// The upstream query is built afresh (dnsmsg.NewQuery): RD, EDNS with a 1232-byte UDP size, q's CD
// bit and DO bit, and an ECS option for client under the same privacy rules as Resolve (RFC 7871
// §11): at most the client's /24 (IPv6 /56), shorter when client is a shorter prefix the client chose
// itself, and none for a special-purpose address, an invalid prefix or a /0 (the client asked for no
// ECS). The upstream node is picked by the consistent hash of the name, so one name's forwarded
// queries meet on one node's cache.
//
// The reply is the upstream's (ID and all): the caller answers with its own ID and its own ECS
// option. Every node failing is ErrUpstreamUnavailable, too many queries in flight ErrUpstreamBusy,
// and a message without exactly one question an error wrapping ErrInvalidName.
func (r *Resolver) Forward(ctx context.Context, q *dns.Msg, client netip.Prefix) (*dns.Msg, error) {
	if len(q.Question) != 1 {
		return nil, fmt.Errorf("forwarding %d questions: %w", len(q.Question), ErrInvalidName)
	}
	qq := q.Question[0]
	if _, ok := dns.IsDomainName(qq.Name); !ok {
		return nil, fmt.Errorf("forwarding %q: %w", qq.Name, ErrInvalidName)
	}
	up := dnsmsg.NewQuery(qq.Name, qq.Qtype, forwardSource(client))
	up.Question[0].Qclass = qq.Qclass
	up.CheckingDisabled = q.CheckingDisabled
	if opt := q.IsEdns0(); opt != nil && opt.Do() {
		up.IsEdns0().SetDo()
	}
	reply, err := r.exchange(ctx, up, dns.CanonicalName(qq.Name), KindMiss)
	switch {
	case err == nil:
		return reply, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, ErrUpstreamBusy):
		return nil, ErrUpstreamBusy
	}
	return nil, errors.Join(ErrUpstreamUnavailable, err)
}

// forwardSource is the ECS source sent for a forwarded query: client masked to at most the /24 or
// /56 dnsmsg.Source allows, or an invalid prefix (no ECS) for a special-purpose address or a /0.
func forwardSource(client netip.Prefix) netip.Prefix {
	if !client.IsValid() || client.Bits() == 0 {
		return netip.Prefix{}
	}
	src := dnsmsg.Source(client.Addr())
	if !src.IsValid() || client.Bits() >= src.Bits() {
		return src
	}
	return client.Masked()
}
