package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/dnsmsg"
)

// startDoHClient builds m13253's doh-client v2.3.7 (a tool of this module) and runs it on a free
// loopback port with one upstream of kind ("upstream_google": the JSON API, "upstream_ietf": RFC
// 8484) at url; it returns the address to send DNS queries to.
func startDoHClient(t *testing.T, kind, url string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "doh-client")
	build := exec.Command("go", "build", "-o", bin, "github.com/m13253/dns-over-https/v2/doh-client")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building doh-client: %v\n%s", err, out)
	}
	listen := freeAddr(t)
	conf := fmt.Sprintf(`listen = [%q]
[upstream]
upstream_selector = "random"
[[upstream.%s]]
    url = %q
    weight = 50
[others]
bootstrap = []
passthrough = []
timeout = 10
no_cookies = true
no_ecs = false
no_ipv6 = false
no_user_agent = false
verbose = false
insecure_tls_skip_verify = true
`, listen, kind, url)
	path := filepath.Join(dir, "doh-client.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-conf", path)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("doh-client's log:\n%s", logs.String())
		}
	})
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, _, err := c.Exchange(new(dns.Msg).SetQuestion("ready.interop.test.", dns.TypeTXT), listen)
		if err == nil {
			return listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("doh-client did not answer within 20s: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a process we started: it has no other way to say it is up
	}
}

// TestM13253DoHClient runs m13253's doh-client in its JSON (Google) and RFC 8484 modes against a
// real serve and asks it with miekg/dns: A with and without an ECS option, MX and TXT come back as
// the upstream gave them (the JSON mode rebuilds each record from our presentation-format data, and
// rejects a name with a doubled trailing dot).
func TestM13253DoHClient(t *testing.T) {
	base := startServe(t, "")
	for _, mode := range []struct{ kind, url string }{
		{"upstream_google", base + "/resolve"},
		{"upstream_ietf", base + "/dns-query"},
	} {
		t.Run(mode.kind, func(t *testing.T) {
			addr := startDoHClient(t, mode.kind, mode.url)
			c := &dns.Client{Timeout: 5 * time.Second}
			for _, tt := range []struct {
				name  string
				qtype uint16
				ecs   string
				want  string
			}{
				{"a.m13253.test.", dns.TypeA, "20.1.9.0/24", "192.0.2.9"},
				{"mx.m13253.test.", dns.TypeMX, "", "10 mail.mx.m13253.test."},
				{"txt.m13253.test.", dns.TypeTXT, "", `"interop ok"`},
			} {
				q := new(dns.Msg).SetQuestion(tt.name, tt.qtype)
				if tt.ecs != "" {
					q.SetEdns0(1232, false)
					q.IsEdns0().Option = append(q.IsEdns0().Option, dnsmsg.ECSOption(mustPrefix(t, tt.ecs)))
				}
				m, _, err := c.Exchange(q, addr)
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].Header().Name != tt.name ||
					!strings.HasSuffix(m.Answer[0].String(), "\t"+tt.want) {
					t.Errorf("%s: reply %v, want one record ending %s", tt.name, m, tt.want)
				}
			}
		})
	}
}
