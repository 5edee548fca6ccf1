package api

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/miekg/dns"
)

// The DNS-message doors' cache-hit cost beside /d's (issue 9: each door's hit path within 15% of
// /d's), handlers alone and whole servers on loopback, in one run:
//
//	go test ./api -run '^$' -bench 'BenchmarkD$|DoH|JSON' -benchmem
//	go test ./api -run '^$' -bench 'BenchmarkDServer|DoHServer|JSONServer' -benchmem

func dohTarget(b *testing.B) string {
	b.Helper()
	q := new(dns.Msg).SetQuestion("api.example.com.", dns.TypeA)
	q.Id = 0
	wire, err := q.Pack()
	if err != nil {
		b.Fatal(err)
	}
	return "/dns-query?dns=" + base64.RawURLEncoding.EncodeToString(wire)
}

// BenchmarkDoHGet is a cache-hit RFC 8484 GET.
func BenchmarkDoHGet(b *testing.B) {
	serveLoop(b, benchAPI(b), dohTarget(b))
}

// BenchmarkDoHPost is a cache-hit RFC 8484 POST.
func BenchmarkDoHPost(b *testing.B) {
	h := benchAPI(b)
	wire, err := new(dns.Msg).SetQuestion("api.example.com.", dns.TypeA).Pack()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/dns-query", bytes.NewReader(wire))
		r.Header.Set("Content-Type", "application/dns-message")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkGoogleJSON is a cache-hit GET /resolve?name=.
func BenchmarkGoogleJSON(b *testing.B) {
	serveLoop(b, benchAPI(b), "/resolve?name=api.example.com&type=A")
}

// BenchmarkCloudflareJSON is a cache-hit GET /dns-query?name=.
func BenchmarkCloudflareJSON(b *testing.B) {
	serveLoop(b, benchAPI(b), "/dns-query?name=api.example.com&type=A")
}

// BenchmarkDoHServer is BenchmarkDoHGet served on loopback (compare with BenchmarkDServer).
func BenchmarkDoHServer(b *testing.B) {
	serveConns(b, benchAPI(b), dohTarget(b))
}

// BenchmarkGoogleJSONServer is BenchmarkGoogleJSON served on loopback.
func BenchmarkGoogleJSONServer(b *testing.B) {
	serveConns(b, benchAPI(b), "/resolve?name=api.example.com&type=A")
}
