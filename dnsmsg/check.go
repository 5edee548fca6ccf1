package dnsmsg

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// Reply check failures. Every error of [CheckReply] matches ErrMismatch with [errors.Is]; those about
// the ECS option match ErrECS as well, so a caller can count them apart.
var (
	// ErrMismatch reports a reply that does not answer the query it came for: another ID, not a
	// response, another opcode or another question.
	ErrMismatch = errors.New("reply does not answer the query")
	// ErrECS reports a reply whose ECS option does not echo the query's, which RFC 7871 §7.3 says to
	// treat as malformed.
	ErrECS = errors.New("reply's ECS option does not echo the query's (RFC 7871 §7.3)")
)

// CheckReply checks that reply answers q: the same ID, QR set, the same opcode, exactly the question
// asked (name compared ignoring case), and an ECS option that echoes q's. It does not judge the rcode:
// whether a SERVFAIL or REFUSED is the node's fault or the name's is the caller's call.
//
// The ECS echo (RFC 7871 §7.3): when q carried ECS, a reply may carry none (the upstream ignores
// ECS; the answer holds for everyone it would be given to, see [Reply.Scope]) or one with the same
// FAMILY, SOURCE PREFIX-LENGTH and source-prefix bits of ADDRESS, and a SCOPE PREFIX-LENGTH no longer
// than the family's addresses (32 or 128). When q carried none, the reply must carry none either
// (RFC 7871 §7.2.1).
func CheckReply(q, reply *dns.Msg) error {
	switch {
	case reply.Id != q.Id:
		return fmt.Errorf("%w: ID %d, sent %d", ErrMismatch, reply.Id, q.Id)
	case !reply.Response:
		return fmt.Errorf("%w: QR not set", ErrMismatch)
	case reply.Opcode != q.Opcode:
		return fmt.Errorf("%w: opcode %s, sent %s", ErrMismatch, opcodeString(reply.Opcode), opcodeString(q.Opcode))
	case len(q.Question) != 1 || len(reply.Question) != 1:
		return fmt.Errorf("%w: %d questions, sent %d", ErrMismatch, len(reply.Question), len(q.Question))
	case !sameQuestion(reply.Question[0], q.Question[0]):
		return fmt.Errorf("%w: question %s, sent %s", ErrMismatch, &reply.Question[0], &q.Question[0])
	}
	return checkECS(ECS(q), ECS(reply))
}

// checkECS checks that got echoes sent (RFC 7871 §7.3).
func checkECS(sent, got *dns.EDNS0_SUBNET) error {
	switch {
	case got == nil:
		return nil
	case sent == nil:
		return fmt.Errorf("%w: %w: none sent, got %s", ErrMismatch, ErrECS, got)
	}
	want, okWant := ECSPrefix(sent)
	have, okHave := ECSPrefix(got)
	if !okWant || !okHave || got.Family != sent.Family || have.Masked() != want.Masked() ||
		int(got.SourceScope) > have.Addr().BitLen() {
		return fmt.Errorf("%w: %w: sent %s, got %s", ErrMismatch, ErrECS, sent, got)
	}
	return nil
}

// sameQuestion compares two questions, names ignoring case and a trailing dot.
func sameQuestion(a, b dns.Question) bool {
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && equalNames(a.Name, b.Name)
}

// equalNames compares two names in presentation form ignoring ASCII case and a trailing dot, without
// allocating (dns.CanonicalName lower-cases into a new string).
func equalNames(a, b string) bool {
	a, b = trimDot(a), trimDot(b)
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func trimDot(s string) string {
	if len(s) > 0 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func opcodeString(op int) string {
	if s, ok := dns.OpcodeToString[op]; ok {
		return s
	}
	return fmt.Sprint(op)
}
