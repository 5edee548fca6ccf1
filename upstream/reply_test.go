package upstream

import (
	"net"
	"net/netip"
	"testing"

	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/miekg/dns"
)

// TestValidateReply checks how each reply problem is counted: the checks themselves are dnsmsg's
// (its tests cover every case); here, that each ends in the result the pool's health and metrics use.
func TestValidateReply(t *testing.T) {
	t.Parallel()
	src := netip.MustParsePrefix("1.2.3.0/24")
	q := dnsmsg.NewQuery("a.test", dns.TypeA, src)
	tests := []struct {
		name   string
		q      *dns.Msg
		mut    func(r *dns.Msg)
		result string
	}{
		{"good", q, func(*dns.Msg) {}, resultOK},
		{"NXDOMAIN", q, func(r *dns.Msg) { r.Rcode = dns.RcodeNameError }, resultOK},
		{"QR unset", q, func(r *dns.Msg) { r.Response = false }, resultBadReply},
		{"opcode", q, func(r *dns.Msg) { r.Opcode = dns.OpcodeNotify }, resultBadReply},
		{"question", q, func(r *dns.Msg) { r.Question[0].Name = "b.test." }, resultBadReply},
		{"ECS address", q, func(r *dns.Msg) { dnsmsg.ECS(r).Address = net.IP{1, 2, 9, 0} }, resultBadReply},
		{"ECS scope", q, func(r *dns.Msg) { dnsmsg.ECS(r).SourceScope = 33 }, resultBadReply},
		{"ECS not asked", dnsmsg.NewQuery("a.test", dns.TypeA, netip.Prefix{}),
			func(r *dns.Msg) { r.IsEdns0().Option = []dns.EDNS0{dnsmsg.ECSOption(src)} }, resultBadReply},
		{"SERVFAIL", q, func(r *dns.Msg) { r.Rcode = dns.RcodeServerFailure }, resultServfail},
		{"REFUSED", q, func(r *dns.Msg) { r.Rcode = dns.RcodeRefused }, resultRefused},
		{"NOTIMP", q, func(r *dns.Msg) { r.Rcode = dns.RcodeNotImplemented }, resultBadReply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.q.Copy()
			r.Response = true
			tt.mut(r)
			if err := validateReply(tt.q, r); attemptResult(err) != tt.result {
				t.Errorf("validateReply: %v, result %q, want %q", err, attemptResult(err), tt.result)
			}
		})
	}
}
