package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/httpdns/httpdns/internal/dnstest"
	"github.com/miekg/dns"
)

// TestExchangeOnTheWire sends probes to a real DNS server on 127.0.0.1 and checks what goes over the
// wire (EDNS UDP size 1232, ECS) and what is kept of the replies (32 addresses, unique, sorted; the
// first of two CNAMEs) and which replies are refused (QR unset, another opcode, a bad ECS echo).
func TestExchangeOnTheWire(t *testing.T) {
	t.Parallel()
	src := netip.MustParsePrefix("20.1.2.0/24")
	tests := []struct {
		name  string
		reply func(q *dns.Msg) *dns.Msg
		ips   int    // addresses kept
		first string // lowest address kept
		err   error
	}{
		{"60 addresses, 10 repeated", func(q *dns.Msg) *dns.Msg {
			m := echo(q)
			for i := range 70 {
				m.Answer = append(m.Answer, rr(t, "%s 60 IN A 10.0.0.%d", q.Question[0].Name, 60-i%60))
			}
			return m
		}, 32, "10.0.0.1", nil},
		{"first of two CNAMEs", func(q *dns.Msg) *dns.Msg {
			m := echo(q)
			m.Answer = append(m.Answer, rr(t, "%s 60 IN CNAME b.test.", q.Question[0].Name),
				rr(t, "%s 60 IN CNAME c.test.", q.Question[0].Name),
				rr(t, "b.test. 60 IN A 2.2.2.2"), rr(t, "c.test. 60 IN A 3.3.3.3"))
			return m
		}, 1, "2.2.2.2", nil},
		{"QR unset", func(q *dns.Msg) *dns.Msg {
			m := echo(q)
			m.Response = false
			return m
		}, 0, "", ErrBadReply},
		{"another opcode", func(q *dns.Msg) *dns.Msg {
			m := echo(q)
			m.Opcode = dns.OpcodeStatus
			return m
		}, 0, "", ErrBadReply},
		{"ECS echo of another subnet", func(q *dns.Msg) *dns.Msg {
			m := echo(q)
			m.IsEdns0().Option[0].(*dns.EDNS0_SUBNET).Address = net.IP{20, 1, 9, 0}
			return m
		}, 0, "", ErrBadECS},
		{"SERVFAIL", func(q *dns.Msg) *dns.Msg {
			m := echo(q)
			m.Rcode = dns.RcodeServerFailure
			return m
		}, 0, "", ErrRcode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &dnstest.Recorder{Reply: tt.reply}
			addr := dnstest.Start(t, rec)
			a, err := newExchanger().ask(context.Background(), addr, "a.test", dns.TypeA, src, nil)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(a.ips) != tt.ips || (tt.ips > 0 && a.ips[0] != netip.MustParseAddr(tt.first)) ||
				!slices.IsSortedFunc(a.ips, netip.Addr.Compare) || len(slices.Compact(slices.Clone(a.ips))) != len(a.ips) {
				t.Fatalf("kept %v, want %d sorted unique addresses from %s", a.ips, tt.ips, tt.first)
			}
			if tt.err == nil && a.scope != 22 {
				t.Errorf("scope %d, want 22", a.scope)
			}
			qs := rec.Queries()
			if len(qs) == 0 {
				t.Fatal("no query reached the server")
			}
			opt := qs[0].IsEdns0()
			if opt == nil || opt.UDPSize() != 1232 {
				t.Fatalf("query OPT %v, want EDNS UDP size 1232", opt)
			}
			if len(opt.Option) != 1 || opt.Option[0].String() != "20.1.2.0/24/0" {
				t.Errorf("query ECS %v, want 20.1.2.0/24/0", opt.Option)
			}
		})
	}
}

// echo is a reply to q that echoes its ECS option with scope 22.
func echo(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg).SetReply(q)
	if opt := q.IsEdns0(); opt != nil {
		o := dns.Copy(opt).(*dns.OPT)
		for _, e := range o.Option {
			if s, ok := e.(*dns.EDNS0_SUBNET); ok {
				s.SourceScope = 22
			}
		}
		m.Extra = append(m.Extra, o)
	}
	return m
}

func rr(t *testing.T, format string, args ...any) dns.RR {
	t.Helper()
	r, err := dns.NewRR(fmt.Sprintf(format, args...))
	if err != nil {
		t.Fatal(err)
	}
	return r
}
