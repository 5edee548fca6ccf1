package resolver

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/httpdns/httpdns/internal/dnstest"
	"github.com/miekg/dns"
)

// TestForward forwards types other than A/AAAA through a real DNS server on 127.0.0.1 and checks the
// query sent (RD, EDNS 1232, CD and DO passed on, ECS by the privacy rules) and the reply returned.
func TestForward(t *testing.T) {
	t.Parallel()
	rec := &dnstest.Recorder{Reply: func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		name := q.Question[0].Name
		switch {
		case strings.HasPrefix(name, "nx."):
			m.Rcode = dns.RcodeNameError
		case strings.HasPrefix(name, "fail."):
			m.Rcode = dns.RcodeServerFailure
		case q.Question[0].Qtype == dns.TypeMX:
			rr, _ := dns.NewRR(name + " 120 IN MX 10 mail." + name)
			m.Answer = append(m.Answer, rr)
		case q.Question[0].Qtype == dns.TypeTXT:
			rr, _ := dns.NewRR(name + ` 60 IN TXT "v=spf1 -all"`)
			m.Answer = append(m.Answer, rr)
		}
		if e := dnsmsg.ECS(q); e != nil {
			m.SetEdns0(dnsmsg.UDPSize, false)
			e.SourceScope = 20
			m.IsEdns0().Option = append(m.IsEdns0().Option, e)
		}
		return m
	}}
	r := newWireResolver(t, rec)

	for _, tt := range []struct {
		name   string
		qtype  uint16
		client string
		ecs    string // the ECS source sent, "" for none
		cd, do bool
	}{
		{"mx.fwd.test.", dns.TypeMX, "20.1.2.3/32", "20.1.2.0/24", false, false},
		{"Txt.Fwd.Test.", dns.TypeTXT, "20.1.2.3/16", "20.1.0.0/16", true, true},
		{"mx2.fwd.test.", dns.TypeMX, "10.1.2.3/32", "", false, false}, // private: no ECS
		{"mx3.fwd.test.", dns.TypeMX, "20.1.2.3/0", "", false, false},  // the client asked for none
		{"mx4.fwd.test.", dns.TypeMX, "2001:da8::1/128", "2001:da8::/56", false, false},
		{"mx5.fwd.test.", dns.TypeMX, "", "", false, false}, // no client at all
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := new(dns.Msg).SetQuestion(tt.name, tt.qtype)
			q.Id = 4242
			q.CheckingDisabled = tt.cd
			if tt.do {
				q.SetEdns0(4096, true)
			}
			var client netip.Prefix
			if tt.client != "" {
				client = netip.MustParsePrefix(tt.client)
			}
			reply, err := r.Forward(context.Background(), q, client)
			if err != nil {
				t.Fatal(err)
			}
			if len(reply.Answer) != 1 || reply.Answer[0].Header().Rrtype != tt.qtype {
				t.Errorf("answer %v, want one record of type %d", reply.Answer, tt.qtype)
			}
			qs := rec.Queries()
			sent := qs[len(qs)-1]
			if sent.Question[0].Name != tt.name || !sent.RecursionDesired || sent.CheckingDisabled != tt.cd {
				t.Errorf("sent %v", sent.Question)
			}
			opt := sent.IsEdns0()
			if opt == nil || opt.UDPSize() != dnsmsg.UDPSize || opt.Do() != tt.do {
				t.Fatalf("sent OPT %v, want UDP size %d, DO %v", opt, dnsmsg.UDPSize, tt.do)
			}
			got := ""
			if e := dnsmsg.ECS(sent); e != nil {
				p, _ := dnsmsg.ECSPrefix(e)
				got = p.String()
			}
			if got != tt.ecs {
				t.Errorf("sent ECS %q, want %q", got, tt.ecs)
			}
		})
	}

	t.Run("servfail", func(t *testing.T) {
		q := new(dns.Msg).SetQuestion("fail.fwd.test.", dns.TypeMX)
		if _, err := r.Forward(context.Background(), q, netip.Prefix{}); !errors.Is(err, ErrUpstreamUnavailable) {
			t.Errorf("err = %v, want ErrUpstreamUnavailable", err)
		}
	})
	t.Run("answer rcode", func(t *testing.T) { // Resolve reports NXDOMAIN apart from NODATA
		for name, want := range map[string]int{"nx.rcode.test": dns.RcodeNameError, "nodata.rcode.test": dns.RcodeSuccess} {
			a, err := r.Resolve(context.Background(), Query{Name: name, Qtype: TypeA, Client: netip.MustParseAddr("20.1.2.3")})
			if err != nil || a.Rcode != want || len(a.IPs) != 0 {
				t.Errorf("%s: %+v, %v; want rcode %d and no address", name, a, err, want)
			}
		}
	})
	t.Run("no question", func(t *testing.T) {
		if _, err := r.Forward(context.Background(), new(dns.Msg), netip.Prefix{}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("err = %v, want ErrInvalidName", err)
		}
	})
}
