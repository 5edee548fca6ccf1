package prober_test

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/httpdns/httpdns/internal/dnstest"
	"github.com/httpdns/httpdns/prober"
	"github.com/miekg/dns"
)

// TestProbeBudgetCountsTCPRetries: a truncated UDP reply's TCP retry is a query of the budget too,
// so a server that truncates every reply sees no more queries than -max-queries.
func TestProbeBudgetCountsTCPRetries(t *testing.T) {
	t.Parallel()
	rec := &dnstest.Recorder{Reply: func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		for i := range 200 { // far over 1232 bytes: truncated over UDP
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(10, 0, byte(i>>8), byte(i))})
		}
		if o := q.IsEdns0(); o != nil {
			m.SetEdns0(1232, false)
			for _, op := range o.Option {
				if e, ok := op.(*dns.EDNS0_SUBNET); ok {
					echo := *e
					echo.SourceScope = e.SourceNetmask
					m.IsEdns0().Option = append(m.IsEdns0().Option, &echo)
				}
			}
		}
		return m
	}}
	addr := dnstest.Start(t, rec)
	var units []netip.Prefix
	for i := range 40 {
		units = append(units, netip.PrefixFrom(netip.AddrFrom4([4]byte{20, 0, byte(i), 0}), 24))
	}
	cfg := fastProbe([]string{addr}, "big.test")
	cfg.MaxQueries = 50
	st, err := prober.Probe(context.Background(), cfg, units, nil, &memSink{})
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if got := len(rec.Queries()); got > 50 || st.Queries > 50 {
		t.Errorf("budget 50: the server saw %d queries, the stats count %d", got, st.Queries)
	}
}
