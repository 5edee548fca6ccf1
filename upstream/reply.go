package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/miekg/dns"
)

// Errors of Exchange and New.
var (
	// ErrNameFailed reports a name that failed the same way (SERVFAIL, REFUSED, a bad reply or a
	// timeout) on two nodes. It is the name's failure, not the nodes': the rest are not asked, and a
	// caller should remember the failure briefly rather than ask again. The error also matches the
	// attempts' errors, e.g. ErrServfail.
	ErrNameFailed = errors.New("the name failed the same way on two upstream nodes")
	// ErrBusy reports that MaxInflight exchanges were running and no slot came free in time.
	ErrBusy = errors.New("too many upstream queries in flight")
	// ErrNoUpstream reports a Config without nodes.
	ErrNoUpstream = errors.New("no upstream nodes")
	// ErrServfail is an attempt answered SERVFAIL.
	ErrServfail = errors.New("upstream answered SERVFAIL")
	// ErrRefused is an attempt answered REFUSED.
	ErrRefused = errors.New("upstream refused the query")
)

// Errors of one attempt that are not exported: the caller sees them joined into Exchange's error.
var (
	errBadReply = errors.New("upstream reply does not match the query")
	errBadECS   = errors.New("upstream reply's ECS option does not match the query (RFC 7871 §7.3)")
)

// Results of one attempt: the result label of httpdns_upstream_queries_total and
// httpdns_upstream_checks_total.
const (
	resultOK        = "ok"
	resultServfail  = "servfail"
	resultRefused   = "refused"
	resultBadReply  = "bad_reply"
	resultTimeout   = "timeout"
	resultTruncated = "truncated"
	resultError     = "error"       // a network error: the node's
	resultLocal     = "local_error" // a local socket error before anything was sent: nobody's
	resultCancelled = "cancelled"   // abandoned: another node answered first, or the request ended
)

// localError marks an attempt that failed before anything was sent: the socket could not be made.
type localError struct{ err error }

func (e localError) Error() string { return "local socket: " + e.err.Error() }
func (e localError) Unwrap() error { return e.err }

// isLocal reports whether err comes from this host's resources rather than the node: no sockets
// left (EMFILE, ENFILE), no buffers or memory, no usable local address or port.
func isLocal(err error) bool {
	var le localError
	if errors.As(err, &le) {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.EADDRNOTAVAIL, syscall.EADDRINUSE} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

func attemptResult(err error) string {
	var nerr net.Error
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, ErrServfail):
		return resultServfail
	case errors.Is(err, ErrRefused):
		return resultRefused
	case errors.Is(err, errBadReply), errors.Is(err, errBadECS), errors.Is(err, dns.ErrId):
		return resultBadReply
	case isLocal(err):
		return resultLocal
	case errors.Is(err, context.Canceled):
		return resultCancelled
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return resultTimeout
	default:
		return resultError
	}
}

// nameResult reports whether an attempt's result may be the name's fault rather than the node's,
// and so stops the exchange when a second node fails the same way.
func nameResult(result string) bool {
	switch result {
	case resultServfail, resultRefused, resultBadReply, resultTimeout:
		return true
	}
	return false
}

// validateReply checks that reply answers q (dnsmsg.CheckReply: ID, QR, opcode, exactly the question
// asked, and an ECS option that echoes ours per RFC 7871 §7.3) and has a usable rcode.
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
		return ErrServfail
	case dns.RcodeRefused:
		return ErrRefused
	default:
		return fmt.Errorf("%w: rcode %s", errBadReply, dns.RcodeToString[reply.Rcode])
	}
	return nil
}
