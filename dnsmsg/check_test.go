package dnsmsg

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// replyTo is a reply to q that echoes its ECS option with scope 20; mut then spoils it.
func replyTo(q *dns.Msg, mut func(r *dns.Msg)) *dns.Msg {
	r := q.Copy()
	r.Response = true
	if e := ECS(r); e != nil {
		e.SourceScope = 20
	}
	if mut != nil {
		mut(r)
	}
	return r
}

func TestCheckReply(t *testing.T) {
	t.Parallel()
	src4 := netip.MustParsePrefix("1.2.3.0/24")
	src6 := netip.MustParsePrefix("2001:da8:1:200::/56")
	q4 := NewQuery("a.test", dns.TypeA, src4)
	q6 := NewQuery("a.test", dns.TypeAAAA, src6)
	qNone := NewQuery("a.test", dns.TypeA, netip.Prefix{})
	setECS := func(e *dns.EDNS0_SUBNET) func(r *dns.Msg) {
		return func(r *dns.Msg) { r.IsEdns0().Option = []dns.EDNS0{e} }
	}
	tests := []struct {
		name  string
		q     *dns.Msg
		mut   func(r *dns.Msg)
		err   error // nil, ErrMismatch or ErrECS
		isECS bool
	}{
		{"good", q4, nil, nil, false},
		{"good IPv6", q6, nil, nil, false},
		{"good without ECS", qNone, nil, nil, false},
		{"name case and dot differ", q4, func(r *dns.Msg) { r.Question[0].Name = "A.Test" }, nil, false},
		{"rcode is not judged", q4, func(r *dns.Msg) { r.Rcode = dns.RcodeServerFailure }, nil, false},
		{"no ECS in the reply", q4, func(r *dns.Msg) { r.IsEdns0().Option = nil }, nil, false},
		{"no OPT in the reply", q4, func(r *dns.Msg) { r.Extra = nil }, nil, false},
		{"scope 0", q4, func(r *dns.Msg) { ECS(r).SourceScope = 0 }, nil, false},
		{"scope 32", q4, func(r *dns.Msg) { ECS(r).SourceScope = 32 }, nil, false},
		{"scope 128", q6, func(r *dns.Msg) { ECS(r).SourceScope = 128 }, nil, false},
		{"IPv4 address in 16-byte form", q4, func(r *dns.Msg) { ECS(r).Address = net.ParseIP("1.2.3.0") }, nil, false},
		{"host bits past the source ignored", q4, func(r *dns.Msg) { ECS(r).Address = net.IP{1, 2, 3, 99} }, nil, false},
		{"wrong ID", q4, func(r *dns.Msg) { r.Id++ }, ErrMismatch, false},
		{"QR not set", q4, func(r *dns.Msg) { r.Response = false }, ErrMismatch, false},
		{"wrong opcode", q4, func(r *dns.Msg) { r.Opcode = dns.OpcodeNotify }, ErrMismatch, false},
		{"no question", q4, func(r *dns.Msg) { r.Question = nil }, ErrMismatch, false},
		{"two questions", q4, func(r *dns.Msg) { r.Question = append(r.Question, r.Question[0]) }, ErrMismatch, false},
		{"other name", q4, func(r *dns.Msg) { r.Question[0].Name = "b.test." }, ErrMismatch, false},
		{"name prefix", q4, func(r *dns.Msg) { r.Question[0].Name = "a.tes" }, ErrMismatch, false},
		{"other type", q4, func(r *dns.Msg) { r.Question[0].Qtype = dns.TypeAAAA }, ErrMismatch, false},
		{"other class", q4, func(r *dns.Msg) { r.Question[0].Qclass = dns.ClassCHAOS }, ErrMismatch, false},
		{"ECS family", q4, func(r *dns.Msg) { ECS(r).Family = 2 }, ErrMismatch, true},
		{"ECS source length", q4, func(r *dns.Msg) { ECS(r).SourceNetmask = 16 }, ErrMismatch, true},
		{"ECS address", q4, func(r *dns.Msg) { ECS(r).Address = net.IP{1, 2, 9, 0} }, ErrMismatch, true},
		{"ECS IPv6 address", q6, func(r *dns.Msg) { ECS(r).Address = net.ParseIP("2001:da8:1:300::") }, ErrMismatch, true},
		{"ECS scope over 32", q4, func(r *dns.Msg) { ECS(r).SourceScope = 33 }, ErrMismatch, true},
		{"ECS scope over 128", q6, func(r *dns.Msg) { ECS(r).SourceScope = 129 }, ErrMismatch, true},
		{"ECS address missing", q4, func(r *dns.Msg) { ECS(r).Address = nil }, ErrMismatch, true},
		{"ECS when none was sent", qNone, setECS(ECSOption(src4)), ErrMismatch, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckReply(tt.q, replyTo(tt.q, tt.mut))
			if tt.err == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.err) || errors.Is(err, ErrECS) != tt.isECS {
				t.Fatalf("error %v: want %v, ECS %v", err, tt.err, tt.isECS)
			}
		})
	}
}

// TestCheckReplyWire checks the ECS echo after a round trip through the wire format, where miekg/dns
// unpacks an IPv4 ECS address in its 16-byte form.
func TestCheckReplyWire(t *testing.T) {
	t.Parallel()
	for _, src := range []netip.Prefix{netip.MustParsePrefix("1.2.3.0/24"), netip.MustParsePrefix("2001:da8:1:200::/56")} {
		q := NewQuery("a.test", dns.TypeA, src)
		buf, err := replyTo(q, nil).Pack()
		if err != nil {
			t.Fatal(err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf); err != nil {
			t.Fatal(err)
		}
		if err := CheckReply(q, r); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

func TestNewQuery(t *testing.T) {
	t.Parallel()
	q := NewQuery("A.test", dns.TypeAAAA, netip.MustParsePrefix("1.2.3.0/24"))
	if !q.RecursionDesired || len(q.Question) != 1 || q.Question[0].Name != "A.test." || q.Question[0].Qtype != dns.TypeAAAA {
		t.Fatalf("question: %v", q)
	}
	opt := q.IsEdns0()
	if opt == nil || opt.UDPSize() != 1232 {
		t.Fatalf("OPT %v, want UDP size 1232", opt)
	}
	e := ECS(q)
	if e == nil || e.Family != 1 || e.SourceNetmask != 24 || e.SourceScope != 0 || !e.Address.Equal(net.IP{1, 2, 3, 0}) {
		t.Fatalf("ECS %v, want 1.2.3.0/24/0", e)
	}
	e6 := ECS(NewQuery("a.test", dns.TypeA, netip.MustParsePrefix("2001:da8:1:2ff::/56")))
	if e6 == nil || e6.Family != 2 || e6.SourceNetmask != 56 || !e6.Address.Equal(net.ParseIP("2001:da8:1:200::")) {
		t.Fatalf("ECS %v, want [2001:da8:1:200::]/56/0 (masked)", e6)
	}
	if ECS(NewQuery("a.test", dns.TypeA, netip.Prefix{})) != nil {
		t.Error("ECS sent without a source")
	}
}
