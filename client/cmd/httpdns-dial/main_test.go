package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/api"
	"github.com/httpdns/httpdns/internal/tlstest"
	"github.com/httpdns/httpdns/resolver"
)

// edgeResolver answers every A query with 127.0.0.1, where the test's edge listens.
type edgeResolver struct{}

func (edgeResolver) Resolve(_ context.Context, q resolver.Query) (resolver.Answer, error) {
	a := resolver.Answer{Name: q.Name, Qtype: q.Qtype, TTL: 60, OriginTTL: 60}
	if q.Qtype == resolver.TypeA {
		a.IPs = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	return a, nil
}

// TestRun fetches https://localhost:PORT/ (the test certificate names localhost) through a real
// httpdns API, the Alibaba v1 door signed, and checks the report names the edge and the source.
func TestRun(t *testing.T) {
	t.Parallel()
	a, err := api.New(api.Config{Resolver: edgeResolver{},
		Accounts: []api.Account{{ID: "100000", Alibaba: &api.AlibabaAccount{Secret: "IAmASecret"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		a.Public().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cert := tlstest.Write(t, dir, "edge")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	edge := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello " + r.TLS.ServerName + "\n"))
	})}
	go edge.ServeTLS(l, cert.CertFile, cert.KeyFile)
	t.Cleanup(func() { edge.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())

	var out, errb bytes.Buffer
	err = run(context.Background(), []string{"-server", srv.URL, "-api", "alibaba_v1", "-account", "100000",
		"-secret", "IAmASecret", "-query", "4", "-no-localdns", "-cacert", cert.CertFile,
		"-cache-file", filepath.Join(dir, "cache.json"), "https://localhost:" + port + "/"}, &out, &errb)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	t.Logf("httpdns-dial printed:\n%s", out.String())
	for _, want := range []string{"200 OK", "served by 127.0.0.1:" + port + " (server,", "hello localhost"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if len(asked) != 1 || asked[0] != "/100000/sign_d" {
		t.Errorf("asked %v, want one /100000/sign_d", asked)
	}
	if _, err := os.Stat(filepath.Join(dir, "cache.json")); err != nil {
		t.Errorf("cache file: %v", err)
	}
}

// TestRunLiteral fetches a URL whose host is an address: nothing is resolved, and the report says
// so ("literal"; before, "none", as if the lookup had failed).
func TestRunLiteral(t *testing.T) {
	t.Parallel()
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(edge.Close)
	var out, errb bytes.Buffer
	// The server is never asked: port 1 refuses, and nothing needs resolving.
	if err := run(context.Background(), []string{"-server", "http://127.0.0.1:1", "-quiet", edge.URL + "/"},
		&out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	if want := "served by " + edge.Listener.Addr().String() + " (literal,"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
}
