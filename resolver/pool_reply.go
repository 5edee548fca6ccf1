package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// Exchanger sends one DNS message to one upstream address. *dns.Client satisfies it through
// clientExchanger; tests may wrap it to count or delay. Exchange must return soon after ctx is
// cancelled: the pool cancels the slower attempt of a hedged pair and waits for it.
type Exchanger interface {
	Exchange(ctx context.Context, m *dns.Msg, addr string) (*dns.Msg, error)
}

// Errors of one upstream attempt. They decide whether the next node is tried.
var (
	errServfail   = errors.New("upstream answered SERVFAIL")
	errRefused    = errors.New("upstream refused the query")
	errBadReply   = errors.New("upstream reply does not match the query")
	errBadECS     = errors.New("upstream reply's ECS option does not match the query (RFC 7871 §7.3)")
	errNoUpstream = errors.New("no upstream nodes")
)

// Results of one attempt, the result label of httpdns_upstream_queries_total.
const (
	resultOK        = "ok"
	resultTruncated = "truncated"
	resultCancelled = "cancelled" // abandoned: another node answered first, or the request ended
)

func attemptResult(err error) string {
	var nerr net.Error
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, errServfail):
		return "servfail"
	case errors.Is(err, errRefused):
		return "refused"
	case errors.Is(err, errBadReply), errors.Is(err, errBadECS), errors.Is(err, dns.ErrId):
		return "bad_reply"
	case errors.Is(err, context.Canceled):
		return resultCancelled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	default:
		return "error"
	}
}

// validateReply checks that reply answers q: same question, a usable rcode, and an ECS option that
// echoes ours (RFC 7871 §7.3: family, source prefix length and address must match, scope may differ).
func validateReply(q, reply *dns.Msg) error {
	if len(reply.Question) != 1 || !questionEqual(reply.Question[0], q.Question[0]) {
		return errBadReply
	}
	switch reply.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	case dns.RcodeServerFailure:
		return errServfail
	case dns.RcodeRefused:
		return errRefused
	default:
		return fmt.Errorf("%w: rcode %s", errBadReply, dns.RcodeToString[reply.Rcode])
	}
	sent := ecsOf(q)
	got := ecsOf(reply)
	if sent != nil && got != nil {
		if got.Family != sent.Family || got.SourceNetmask != sent.SourceNetmask || !got.Address.Equal(sent.Address) {
			return errBadECS
		}
		if int(got.SourceScope) > addrBits(got.Family) {
			return errBadECS
		}
	}
	if sent == nil && got != nil {
		return errBadECS
	}
	return nil
}

func questionEqual(a, b dns.Question) bool {
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && dns.CanonicalName(a.Name) == dns.CanonicalName(b.Name)
}

func addrBits(family uint16) int {
	if family == 2 {
		return 128
	}
	return 32
}

// ecsOf returns the message's EDNS Client Subnet option, or nil.
func ecsOf(m *dns.Msg) *dns.EDNS0_SUBNET {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_SUBNET); ok {
			return e
		}
	}
	return nil
}

// clientExchanger is a dns.Client that also stops when ctx is cancelled: dns.Client only honours
// the context's deadline, so a cancelled attempt would otherwise wait for its reply or timeout.
type clientExchanger struct{ c *dns.Client }

// Exchange sends m to addr and returns the reply, or ctx's error once ctx ends.
func (e clientExchanger) Exchange(ctx context.Context, m *dns.Msg, addr string) (*dns.Msg, error) {
	conn, err := e.c.DialContext(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	r, _, err := e.c.ExchangeWithConnContext(ctx, m, conn)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("exchanging with %s: %w", addr, context.Cause(ctx))
	}
	return r, err
}
