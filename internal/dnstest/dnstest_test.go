package dnstest

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"
)

func TestRecorderTruncatesOverUDP(t *testing.T) {
	t.Parallel()
	rec := &Recorder{Reply: func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		for i := range 200 {
			rr, _ := dns.NewRR(fmt.Sprintf("%s 60 IN A 10.0.0.%d", q.Question[0].Name, i))
			m.Answer = append(m.Answer, rr)
		}
		return m
	}}
	addr := Start(t, rec)
	q := new(dns.Msg).SetQuestion("a.test.", dns.TypeA)
	r, _, err := (&dns.Client{Net: "udp"}).Exchange(q, addr)
	if err != nil || !r.Truncated {
		t.Fatalf("UDP: %v, truncated %v", err, r != nil && r.Truncated)
	}
	r, _, err = (&dns.Client{Net: "tcp"}).Exchange(q, addr)
	if err != nil || r.Truncated || len(r.Answer) != 200 {
		t.Fatalf("TCP: %v, %d answers", err, len(r.Answer))
	}
	if n := len(rec.Queries()); n != 2 {
		t.Errorf("%d queries recorded, want 2", n)
	}
}
