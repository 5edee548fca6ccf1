package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/httpdns/httpdns/dnsmsg"
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

// validateReply checks that reply answers q (dnsmsg.CheckReply: ID, QR, opcode, question, and the
// ECS echo of RFC 7871 §7.3) and has a usable rcode.
func validateReply(q, reply *dns.Msg) error {
	if err := dnsmsg.CheckReply(q, reply); err != nil {
		if errors.Is(err, dnsmsg.ErrECS) {
			return fmt.Errorf("%w: %w", errBadECS, err)
		}
		return fmt.Errorf("%w: %w", errBadReply, err)
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
