package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/tlstest"
)

// tlsService is a running serve with a TLS listener.
type tlsService struct {
	public, tls string // http:// and https:// base URLs
	cert        tlstest.Cert
	logs        *lockedBuffer
}

// startTLSService runs serve with a TLS listener on 127.0.0.1:0 and the certificate cn.pem made in
// dir, plus extra config, until the test ends.
func startTLSService(t *testing.T, extra string) *tlsService {
	t.Helper()
	w, servers := startWorld(t, 1)
	dir := t.TempDir()
	s := &tlsService{cert: tlstest.Write(t, dir, "httpdns-one"), logs: &lockedBuffer{}}
	path := writeTestConfig(t, w, dir, addrsOf(servers),
		"tls: {listen: 127.0.0.1:0, cert: httpdns-one.pem, key: httpdns-one-key.pem}\n"+extra)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, ready := make(chan error, 1), make(chan struct{})
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(s.logs, nil)), func(pub, _ net.Addr) {
			s.public = "http://" + pub.String()
			close(ready)
		}, func(a net.Addr) { s.tls = "https://" + a.String() })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not listen within 10 s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s
}

// h2Get GETs url over HTTP/2 only, trusting pool, and returns the response with its body read.
func h2Get(t *testing.T, pool *x509.CertPool, url string) (*http.Response, []byte) {
	t.Helper()
	var p http.Protocols
	p.SetHTTP2(true)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: &p}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestServeTLS(t *testing.T) {
	t.Parallel()
	s := startTLSService(t, "limits: {client_qps: 1, client_burst: 4}\n")
	for _, path := range []string{"/readyz", "/healthz", "/d?host=img.cdn-a.test&ip=20.0.16.217"} {
		resp, body := h2Get(t, s.cert.Pool, s.tls+path)
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Errorf("GET %s over TLS: %s %d %s, want HTTP/2 200", path, resp.Proto, resp.StatusCode, body)
		}
	}
	var d struct{ IPs []string }
	_, body := h2Get(t, s.cert.Pool, s.tls+"/d?host=img.cdn-a.test&ip=20.0.16.217")
	if err := json.Unmarshal(body, &d); err != nil || len(d.IPs) == 0 {
		t.Errorf("/d over TLS: %s (%v), want addresses", body, err)
	}
	// Both listeners count against one budget: /d twice over TLS, then plain HTTP runs out.
	codes := []int{}
	for range 4 {
		resp, err := http.Get(s.public + "/d?host=img.cdn-a.test")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if !slices.Equal(codes, []int{200, 200, 429, 429}) && !slices.Equal(codes, []int{200, 200, 200, 429}) {
		t.Errorf("plain HTTP after two TLS requests, burst 4: %v, want the budget shared", codes)
	}
	if !strings.Contains(s.logs.String(), "serving TLS") {
		t.Errorf("no TLS line in the log:\n%s", s.logs)
	}
}

func TestServeTLSReloadOnSIGHUP(t *testing.T) {
	// Not parallel: SIGHUP goes to the whole test process, and every running serve reloads.
	s := startTLSService(t, "cidrdb_watch: 0s\n")
	dir := filepath.Dir(s.cert.CertFile)
	next := tlstest.Write(t, dir, "httpdns-two")
	for _, p := range [][2]string{{next.CertFile, s.cert.CertFile}, {next.KeyFile, s.cert.KeyFile}} {
		if err := os.Rename(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := h2Get(t, x509Pool(s.cert, next), s.tls+"/healthz")
		if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn == "httpdns-two" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("still serving %s 10 s after SIGHUP; log:\n%s", cn, s.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// x509Pool trusts every one of certs.
func x509Pool(certs ...tlstest.Cert) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c.Leaf)
	}
	return p
}

func TestServeTLSBadStart(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	dir := t.TempDir()
	crt := tlstest.Write(t, dir, "good")
	for name, tt := range map[string]struct{ tls, want string }{
		"missing cert":   {"{listen: 127.0.0.1:0, cert: nope.pem, key: good-key.pem}", "nope.pem"},
		"key of another": {"{listen: 127.0.0.1:0, cert: good.pem, key: other-key.pem}", "other-key.pem"},
		"bad address":    {"{listen: 127.0.0.1:99999, cert: good.pem, key: good-key.pem}", "tls.listen"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sub := t.TempDir()
			for _, f := range []string{crt.CertFile, crt.KeyFile} {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(sub, filepath.Base(f)), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			tlstest.Write(t, sub, "other")
			path := writeTestConfig(t, w, sub, addrsOf(servers), "tls: "+tt.tls+"\n")
			cfg, err := LoadConfig(path)
			if err == nil {
				err = serve(context.Background(), cfg, slog.New(slog.DiscardHandler), func(net.Addr, net.Addr) {
					t.Error("serve started with a bad TLS setup")
				})
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
