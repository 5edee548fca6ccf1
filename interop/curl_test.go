package interop

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"

	"github.com/httpdns/httpdns/internal/tlstest"
)

// TestCurlDoH has Debian's curl resolve a name through serve's RFC 8484 door on the TLS listener
// (curl speaks DoH only over HTTPS: POST, HTTP/2, ID 0, A and AAAA) and fetch a page from the address
// it got back.
func TestCurlDoH(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: skipping curl --doh-url")
	}
	cert := tlstest.Write(t, t.TempDir(), "httpdns")
	tlsAddr := freeAddr(t)
	startServe(t, fmt.Sprintf("tls:\n  listen: %q\n  cert: %q\n  key: %q\n", tlsAddr, cert.CertFile, cert.KeyFile))
	const page = "reached through httpdns\n"
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, page) }))
	defer web.Close()
	_, port, err := net.SplitHostPort(web.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("curl", "-sS", "--max-time", "15", "--doh-url", "https://"+tlsAddr+"/dns-query",
		"--doh-insecure", "http://curl.interop.test:"+port+"/").CombinedOutput()
	if err != nil || string(out) != page {
		t.Errorf("curl: %v\n%s", err, out)
	}
}
