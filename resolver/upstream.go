package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
	"github.com/miekg/dns"
)

// Exchanger sends one DNS message to one upstream address. *dns.Client satisfies it through
// clientExchanger; tests may wrap it to count or delay.
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

// node is one recursive server; consistent.Member needs String.
type node string

func (n node) String() string { return string(n) }

type xxHasher struct{}

func (xxHasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

// pool picks upstream nodes by consistent hashing of (name + scope key), so one subnet's answer for one
// name is always asked of the same node (its recursive cache stays warm), and tries the next nodes on the
// ring when one fails.
type pool struct {
	ring    *consistent.Consistent
	nodes   []string
	udp     Exchanger
	tcp     Exchanger
	attempt time.Duration
	metrics *metrics
}

func newPool(addrs []string, attempt time.Duration, m *metrics) (*pool, error) {
	if len(addrs) == 0 {
		return nil, errNoUpstream
	}
	members := make([]consistent.Member, 0, len(addrs))
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("upstream %q: %w", a, err)
		}
		members = append(members, node(a))
	}
	ring := consistent.New(members, consistent.Config{
		PartitionCount:    271,
		ReplicationFactor: 40,
		Load:              1.25,
		Hasher:            xxHasher{},
	})
	return &pool{
		ring:    ring,
		nodes:   addrs,
		udp:     clientExchanger{&dns.Client{Net: "udp", UDPSize: dns.DefaultMsgSize}},
		tcp:     clientExchanger{&dns.Client{Net: "tcp"}},
		attempt: attempt,
		metrics: m,
	}, nil
}

// order returns every node, the key's owner first, then the next ones on the ring.
func (p *pool) order(key string) []string {
	if len(p.nodes) == 1 {
		return p.nodes
	}
	members, err := p.ring.GetClosestN([]byte(key), len(p.nodes))
	if err != nil {
		return p.nodes
	}
	out := make([]string, len(members))
	for i, m := range members {
		out[i] = m.String()
	}
	return out
}

// exchange asks the nodes in ring order until one gives a valid reply or ctx ends. Each attempt gets
// at most the per-attempt timeout, so one silent node cannot eat the whole request deadline.
func (p *pool) exchange(ctx context.Context, q *dns.Msg, key string) (*dns.Msg, error) {
	var errs []error
	for _, addr := range p.order(key) {
		if ctx.Err() != nil {
			break
		}
		reply, err := p.try(ctx, q, addr)
		if err == nil {
			return reply, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// try sends q to one node over UDP, retries over TCP when the reply is truncated, and validates it.
func (p *pool) try(ctx context.Context, q *dns.Msg, addr string) (*dns.Msg, error) {
	actx, cancel := context.WithTimeout(ctx, p.attempt)
	defer cancel()
	start := time.Now()
	reply, err := p.udp.Exchange(actx, q, addr)
	if err == nil && reply.Truncated {
		p.metrics.upstream(addr, "truncated", time.Since(start))
		reply, err = p.tcp.Exchange(actx, q, addr)
	}
	if err == nil {
		err = validateReply(q, reply)
	}
	p.metrics.upstream(addr, attemptResult(err), time.Since(start))
	return reply, err
}

func attemptResult(err error) string {
	var nerr net.Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, errServfail):
		return "servfail"
	case errors.Is(err, errRefused):
		return "refused"
	case errors.Is(err, errBadReply), errors.Is(err, errBadECS), errors.Is(err, dns.ErrId):
		return "bad_reply"
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

type clientExchanger struct{ c *dns.Client }

func (e clientExchanger) Exchange(ctx context.Context, m *dns.Msg, addr string) (*dns.Msg, error) {
	r, _, err := e.c.ExchangeContext(ctx, m, addr)
	return r, err
}
