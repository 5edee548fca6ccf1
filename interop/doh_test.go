package interop

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dohdns "github.com/likexian/doh-go/dns"
	"github.com/likexian/doh-go/provider/cloudflare"
	"github.com/likexian/doh-go/provider/dnspod"
	"github.com/likexian/doh-go/provider/google"
	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/httpdns/httpdns/internal/dnstest"
)

// upstream answers like a recursive node in front of an ECS-aware CDN: A 192.0.2.<the ECS /24's
// third byte> (0 without ECS), MX 10 mail.<name>, TXT "interop ok"; it echoes the ECS option.
func upstream(q *dns.Msg) *dns.Msg {
	m := new(dns.Msg).SetReply(q)
	qq := q.Question[0]
	third := 0
	e := dnsmsg.ECS(q)
	if e != nil && e.Address.To4() != nil {
		third = int(e.Address.To4()[2])
	}
	var s string
	switch qq.Qtype {
	case dns.TypeA:
		s = fmt.Sprintf("%s 120 IN A 192.0.2.%d", qq.Name, third)
		if strings.HasPrefix(qq.Name, "curl.") { // a name curl connects to after resolving it
			s = qq.Name + " 120 IN A 127.0.0.1"
		}
	case dns.TypeMX:
		s = qq.Name + " 300 IN MX 10 mail." + qq.Name
	case dns.TypeTXT:
		s = qq.Name + ` 300 IN TXT "interop ok"`
	}
	if s != "" {
		rr, _ := dns.NewRR(s)
		m.Answer = append(m.Answer, rr)
	}
	if e != nil {
		m.SetEdns0(dnsmsg.UDPSize, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, e)
	}
	return m
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe builds cmd/httpdns and runs `httpdns serve` over a DNS server on 127.0.0.1, with the
// repository's test geo databases, the subnet tier and extra config lines; it returns the public
// base URL.
func startServe(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "httpdns")
	build := exec.Command("go", "build", "-o", bin, "./cmd/httpdns")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building httpdns: %v\n%s", err, out)
	}
	testdata, err := filepath.Abs("../testdata")
	if err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	cfg := fmt.Sprintf(`listen: %q
admin_listen: %q
upstreams: [%q]
geoip:
  city: %q
  isp: %q
default_tier: subnet
%s`, listen, freeAddr(t), dnstest.Start(t, &dnstest.Recorder{Reply: upstream}),
		filepath.Join(testdata, "world-city.mmdb"), filepath.Join(testdata, "world-isp.mmdb"), extra)
	path := filepath.Join(dir, "httpdns.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "-config", path)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("serve's log:\n%s", logs.String())
		}
	})
	base := "http://" + listen
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer /healthz within 20s: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a process we started: it has no other way to say it is up
	}
}

// TestDohGo drives github.com/likexian/doh-go v0.6.4's Google and Cloudflare providers, unmodified
// (their upstream URLs are package variables, pointed at our serve), for A with and without
// edns_client_subnet, MX and TXT. Not parallel: the providers' URLs are process-wide.
func TestDohGo(t *testing.T) {
	base := startServe(t, "")
	google.Upstream[google.DefaultProvides] = base + "/resolve"
	cloudflare.Upstream[cloudflare.DefaultProvides] = base + "/dns-query"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	type querier interface {
		ECSQuery(context.Context, dohdns.Domain, dohdns.Type, dohdns.ECS) (*dohdns.Response, error)
	}
	for name, p := range map[string]querier{"google": google.New(), "cloudflare": cloudflare.New()} {
		for _, tt := range []struct {
			domain string
			qtype  dohdns.Type
			ecs    dohdns.ECS
			want   string
		}{
			{"www.interop.test", dohdns.TypeA, "", "192.0.2.0"},
			{"ecs.interop.test", dohdns.TypeA, "20.1.7.0/24", "192.0.2.7"},
			{"mx.interop.test.", dohdns.TypeMX, "", "10 mail.mx.interop.test."},
			{"txt.interop.test", dohdns.TypeTXT, "", `"interop ok"`},
		} {
			t.Run(name+"/"+tt.domain+"/"+string(tt.qtype), func(t *testing.T) {
				rsp, err := p.ECSQuery(ctx, dohdns.Domain(tt.domain), tt.qtype, tt.ecs)
				if err != nil {
					t.Fatal(err)
				}
				if rsp.Status != 0 || len(rsp.Question) != 1 || rsp.Question[0].Name != dns.Fqdn(tt.domain) {
					t.Errorf("response %+v", rsp)
				}
				if len(rsp.Answer) != 1 || rsp.Answer[0].Data != tt.want || rsp.Answer[0].TTL <= 0 ||
					rsp.Answer[0].Name != dns.Fqdn(tt.domain) || strconv.Itoa(rsp.Answer[0].Type) != strconv.Itoa(int(dns.StringToType[string(tt.qtype)])) {
					t.Errorf("answer %+v, want one record with data %s", rsp.Answer, tt.want)
				}
			})
		}
	}
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDohGoDNSPod drives doh-go v0.6.4's DNSPod provider, unmodified, against serve's /d?dn= door
// (plain mode): it sends dn=, ttl=1 and, for an ECS subnet, ip=, and reads "IPs,TTL".
func TestDohGoDNSPod(t *testing.T) {
	base := startServe(t, "")
	dnspod.Upstream[dnspod.DefaultProvides] = base + "/d"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := dnspod.New()
	for _, tt := range []struct {
		domain string
		ecs    dohdns.ECS
		want   string
	}{
		{"ecs.interop.test", "20.1.7.0/24", "192.0.2.7"},
		{"other.interop.test", "20.1.9.0/24", "192.0.2.9"},
	} {
		rsp, err := p.ECSQuery(ctx, dohdns.Domain(tt.domain), dohdns.TypeA, tt.ecs)
		if err != nil {
			t.Fatalf("%s: %v", tt.domain, err)
		}
		if rsp.Status != 0 || len(rsp.Answer) != 1 || rsp.Answer[0].Data != tt.want || rsp.Answer[0].TTL <= 0 {
			t.Errorf("%s with ECS %s: %+v, want one answer %s with a TTL", tt.domain, tt.ecs, rsp, tt.want)
		}
	}
}
