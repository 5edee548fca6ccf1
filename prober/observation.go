package prober

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/httpdns/httpdns/dnsmsg"
)

// Sources of an observation.
const (
	// SourceProbe marks an observation made by an active ECS probe.
	SourceProbe = "probe"
	// SourceSplit marks a split signal recorded by the resolver: an upstream
	// answer whose ECS scope was finer than the block it was asked for
	// (docs/design.md §5.2).
	SourceSplit = "split"
)

// Observation is one answer seen for one client subnet: a line of the
// observations file (JSONL). Probes write it; the resolver writes its split
// signals in the same shape with Source "split".
type Observation struct {
	// Subnet is the ECS source prefix that was asked: a /24 (IPv4) or /56
	// (IPv6) unit, or a finer piece of one when probing inside it.
	Subnet netip.Prefix `json:"subnet"`
	// Domain is the name asked, lower case, without the trailing dot.
	Domain string `json:"domain"`
	// Qtype is the query type: 1 (A) or 28 (AAAA).
	Qtype uint16 `json:"qtype"`
	// Answers are the addresses at the end of the CNAME chain, sorted.
	Answers []netip.Addr `json:"answers"`
	// Rcode is the DNS rcode of the reply: 0 (NOERROR) or 3 (NXDOMAIN).
	Rcode int `json:"rcode"`
	// Scope is the ECS scope prefix length of the reply (RFC 7871 §7.2.1),
	// -1 when the reply carried no ECS option.
	Scope int `json:"scope"`
	// Node is the upstream host:port that answered, "" for split signals.
	Node string `json:"node"`
	// Time is when the answer was received.
	Time time.Time `json:"time"`
	// Round identifies the probe run (its start time, RFC 3339), or "split"; a
	// split signal from a resolver's accuracy check (a /24 whose answer is not
	// its block's) says "check". A split observation's round is not used.
	Round string `json:"round"`
	// Source is SourceProbe or SourceSplit.
	Source string `json:"source"`
}

// LineError reports a malformed line of an observations file.
type LineError struct {
	// Line is the 1-based line number.
	Line int
	// Err says what is wrong with it.
	Err error
}

// Error returns the line number and the problem.
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the underlying problem.
func (e *LineError) Unwrap() error { return e.Err }

// ErrInvalidObservation reports a line that is not an observation: bad
// JSON, or a record that breaks the rules of the format (see the package
// documentation).
var ErrInvalidObservation = errors.New("invalid observation")

// ReadObservations reads an observations file line by line and calls fn
// with each valid observation, normalised (domain canonical, answers
// sorted). A malformed line, a torn last line among them, is returned as a
// *LineError and skipped; blank lines are ignored. err reports a read
// failure only, after which nothing more is read.
func ReadObservations(r io.Reader, fn func(Observation)) (bad []*LineError, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		buf, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return bad, fmt.Errorf("reading observations: %w", rerr)
		}
		if t := bytes.TrimSpace(buf); len(t) > 0 {
			o, perr := ParseObservation(t)
			if perr != nil {
				bad = append(bad, &LineError{Line: line, Err: perr})
			} else {
				fn(o)
			}
		}
		if rerr != nil {
			return bad, nil
		}
	}
}

// ParseObservation decodes one JSON line and validates it.
func ParseObservation(line []byte) (Observation, error) {
	var o Observation
	if err := json.Unmarshal(line, &o); err != nil {
		return Observation{}, fmt.Errorf("%w: decoding: %w", ErrInvalidObservation, err)
	}
	if err := o.normalise(); err != nil {
		return Observation{}, err
	}
	return o, nil
}

// normalise canonicalises o in place and checks it against the format.
func (o *Observation) normalise() error {
	o.Domain = canonicalName(o.Domain)
	if o.Subnet.IsValid() && o.Subnet.Addr().Is4In6() && o.Subnet.Bits() >= 96 {
		o.Subnet = netip.PrefixFrom(o.Subnet.Addr().Unmap(), o.Subnet.Bits()-96)
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidObservation}, args...)...))
	}
	if !o.Subnet.IsValid() {
		bad("missing subnet")
	} else if o.Subnet.Masked() != o.Subnet {
		bad("subnet %s has host bits set", o.Subnet)
	}
	if !validName(o.Domain) {
		bad("bad domain %q", o.Domain)
	}
	if o.Qtype == 0 {
		bad("missing qtype")
	}
	if o.Subnet.IsValid() && (o.Scope < -1 || o.Scope > o.Subnet.Addr().BitLen()) {
		bad("scope %d out of range", o.Scope)
	}
	if slices.ContainsFunc(o.Answers, func(a netip.Addr) bool { return !a.IsValid() }) {
		bad("invalid answer address")
	}
	if o.Source != SourceProbe && o.Source != SourceSplit {
		bad("source %q is neither %q nor %q", o.Source, SourceProbe, SourceSplit)
	}
	if o.Time.IsZero() {
		bad("missing time")
	}
	if o.Source == SourceProbe && o.Round == "" {
		bad("probe observation without round")
	}
	o.Answers = canonicalAnswers(o.Answers)
	return errors.Join(errs...)
}

// canonicalName lower-cases name and drops the trailing dot.
func canonicalName(name string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
}

// validName reports whether name is a canonical host name (lower case, no
// trailing dot) of the service's one grammar, dnsmsg.CanonicalName, the
// names the resolver serves and so the names worth probing.
func validName(name string) bool {
	c, err := dnsmsg.CanonicalName(name)
	return err == nil && c == name
}

// canonicalAnswers returns answers unmapped, sorted and without duplicates.
func canonicalAnswers(answers []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(answers))
	for _, a := range answers {
		out = append(out, a.Unmap())
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// signature is the canonical, order-free form of an answer: the rcode and
// the sorted answer set. Two observations agree when their signatures are
// equal.
func (o *Observation) signature() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", o.Rcode)
	answers := o.Answers
	if !slices.IsSortedFunc(answers, netip.Addr.Compare) {
		answers = canonicalAnswers(answers)
	}
	for _, a := range answers {
		b.WriteByte(' ')
		b.WriteString(a.String())
	}
	return b.String()
}
