package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/internal/tlstest"
)

// serveTLS serves h over TLS with c's certificate on 127.0.0.1 until the test ends and returns its
// https:// base URL.
func serveTLS(t *testing.T, h http.Handler, c *Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewTLSServer(h, ServerConfig{}, c)
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(LimitListener(ln, 8), "", "") }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return "https://" + ln.Addr().String()
}

// tlsClient is a client that trusts pool and speaks only HTTP/2 (h2) or only HTTP/1.1.
func tlsClient(t *testing.T, pool *x509.CertPool, h2 bool) *http.Client {
	t.Helper()
	var p http.Protocols
	p.SetHTTP1(!h2)
	p.SetHTTP2(h2)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestTLSServesEveryEndpointOverHTTP2AndHTTP1(t *testing.T) {
	t.Parallel()
	crt := tlstest.Write(t, t.TempDir(), "httpdns-test")
	c, err := LoadCertificate(crt.CertFile, crt.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ta := newTestAPI(t, Config{})
	base := serveTLS(t, ta.Public(), c)
	for _, h2 := range []bool{true, false} {
		client := tlsClient(t, crt.Pool, h2)
		for _, tt := range []struct{ method, path, ct, body, want string }{
			{"GET", "/d?host=www.example.com", "", "", `"host":"www.example.com"`},
			{"GET", "/resolve?host=a.example.com,b.example.com", "", "", `"dns":[`},
			{"GET", "/readyz", "", "", "ok"},
			{"GET", "/healthz", "", "", "ok"},
			{"POST", "/dns-query", "application/dns-message",
				"\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01", "\x03www\x07example"},
		} {
			req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("h2=%v %s %s: %v", h2, tt.method, tt.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if wantMajor := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != wantMajor {
				t.Errorf("%s %s: %s, want HTTP/%d", tt.method, tt.path, resp.Proto, wantMajor)
			}
			if resp.StatusCode != 200 || !strings.Contains(string(body), tt.want) {
				t.Errorf("h2=%v %s %s: %d %q, want 200 with %q", h2, tt.method, tt.path, resp.StatusCode, body, tt.want)
			}
		}
	}
}

// A reload serves the new certificate to new connections; a bad one is refused and the old one
// keeps serving.
func TestTLSCertificateReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := tlstest.Write(t, dir, "first")
	c, err := LoadCertificate(first.CertFile, first.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	base := serveTLS(t, newTestAPI(t, Config{}).Public(), c)
	servedCN := func(pool *x509.CertPool) string {
		t.Helper()
		resp, err := tlsClient(t, pool, true).Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	if cn := servedCN(first.Pool); cn != "first" {
		t.Fatalf("serving %q, want first", cn)
	}

	second := tlstest.Write(t, dir, "second")
	for _, p := range [][2]string{{second.CertFile, first.CertFile}, {second.KeyFile, first.KeyFile}} {
		if err := os.Rename(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if cn := servedCN(second.Pool); cn != "second" {
		t.Errorf("after the reload serving %q, want second", cn)
	}

	if err := os.WriteFile(first.CertFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err == nil || !strings.Contains(err.Error(), first.CertFile) {
		t.Errorf("Reload of a bad file: %v, want an error naming it", err)
	}
	if cn := servedCN(second.Pool); cn != "second" || c.Leaf().Subject.CommonName != "second" {
		t.Errorf("after a bad reload serving %q, want second still", cn)
	}
	if _, err := LoadCertificate(first.CertFile, first.KeyFile); err == nil {
		t.Error("LoadCertificate of a bad file succeeded")
	}
}
