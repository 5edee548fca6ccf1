package interop

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/internal/tlstest"
)

// TestKdigDig asks serve's RFC 8484 door on the TLS listener with Debian's kdig (knot-dnsutils: POST
// or GET, HTTP/2, ID 0, EDNS padding) and dig (bind9-dnsutils: random IDs, an EDNS cookie), with and
// without an ECS option; each tool is skipped when it is not installed.
func TestKdigDig(t *testing.T) {
	cert := tlstest.Write(t, t.TempDir(), "httpdns")
	tlsAddr := freeAddr(t)
	startServe(t, fmt.Sprintf("tls:\n  listen: %q\n  cert: %q\n  key: %q\n", tlsAddr, cert.CertFile, cert.KeyFile))
	host, port, err := net.SplitHostPort(tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		tool string
		args []string
		want string
	}{
		{"kdig", []string{"+https=/dns-query", "kdig-post.interop.test", "A"}, "192.0.2.0"},
		{"kdig", []string{"+https=/dns-query", "+https-get", "kdig-get.interop.test", "A"}, "192.0.2.0"},
		{"kdig", []string{"+https=/dns-query", "+subnet=20.1.4.0/24", "kdig-ecs.interop.test", "A"}, "192.0.2.4"},
		{"kdig", []string{"+https=/dns-query", "kdig-mx.interop.test", "MX"}, "10 mail.kdig-mx.interop.test."},
		{"dig", []string{"+https=/dns-query", "dig-post.interop.test", "A"}, "192.0.2.0"},
		{"dig", []string{"+https-get=/dns-query", "+subnet=20.1.6.0/24", "dig-ecs.interop.test", "A"}, "192.0.2.6"},
		{"dig", []string{"+https=/dns-query", "dig-txt.interop.test", "TXT"}, `"interop ok"`},
	} {
		t.Run(tt.tool+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			if _, err := exec.LookPath(tt.tool); err != nil {
				t.Skipf("%s is not installed (apt-get install knot-dnsutils bind9-dnsutils)", tt.tool)
			}
			retry := "+tries=1" // dig's name; kdig's is +retry
			if tt.tool == "kdig" {
				retry = "+retry=0"
			}
			args := append([]string{"@" + host, "-p", port, "+short", "+timeout=5", retry}, tt.args...)
			out, err := exec.Command(tt.tool, args...).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != tt.want {
				t.Errorf("%s %s: %v\n%s\nwant %s", tt.tool, strings.Join(args, " "), err, out, tt.want)
			}
		})
	}
}
