package api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/httpdns/httpdns/resolver"
)

// The cache-hit /d must keep at least half of a bare handler's throughput (docs/design.md §11). Compare the
// two in one run:
//
//	go test ./api -run '^$' -bench 'BenchmarkD|BenchmarkBareHandler' -benchmem
//
// BenchmarkD/BenchmarkBareHandler compare the handlers alone (through httptest.ResponseRecorder);
// BenchmarkDServer/BenchmarkBareServer compare whole servers on loopback, 64 keep-alive connections
// like wrk -c64, which is what the bar is about: net/http's own per-request cost is in both.
//
//	go test ./api -run '^$' -bench 'Server$' -benchmem

// fixedResolver is a cache hit: the same answer for every query, at no cost.
type fixedResolver struct{ ans resolver.Answer }

func (f fixedResolver) Resolve(context.Context, resolver.Query) (resolver.Answer, error) {
	return f.ans, nil
}

func benchAPI(b *testing.B) http.Handler {
	b.Helper()
	reg := prometheus.NewRegistry()
	a, err := New(Config{
		Resolver: fixedResolver{resolver.Answer{
			Name: "api.example.com", Qtype: resolver.TypeA, TTL: 57, OriginTTL: 60,
			IPs:   []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")},
			Scope: "192.0.2.0/24", Tier: "subnet", Source: "hit",
		}},
		Registerer: reg, Gatherer: reg,
	})
	if err != nil {
		b.Fatal(err)
	}
	return a.Public()
}

// bareHandler is the reference: what net/http costs with nothing in between.
func bareHandler() http.Handler {
	body := []byte(`{"host":"api.example.com","client_ip":"192.0.2.1","ips":["203.0.113.10"],"ipsv6":[],"ttl":57,"origin_ttl":60}` + "\n")
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
}

func serveLoop(b *testing.B, h http.Handler, target string) {
	b.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

func serveParallel(b *testing.B, h http.Handler, target string) {
	b.Helper()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
		}
	})
}

// BenchmarkD is the cache-hit /d: go test ./api -run '^$' -bench 'BenchmarkD$' -benchmem
func BenchmarkD(b *testing.B) {
	serveLoop(b, benchAPI(b), "/d?host=api.example.com")
}

// BenchmarkDParallel is BenchmarkD on every core.
func BenchmarkDParallel(b *testing.B) {
	serveParallel(b, benchAPI(b), "/d?host=api.example.com")
}

// BenchmarkD46 is /d with query=4,6: two resolutions, one on a goroutine of its own.
func BenchmarkD46(b *testing.B) {
	serveLoop(b, benchAPI(b), "/d?host=api.example.com&query=4,6")
}

// BenchmarkResolve is a /resolve of 10 hosts.
func BenchmarkResolve(b *testing.B) {
	serveLoop(b, benchAPI(b), "/resolve?host=a.com,b.com,c.com,d.com,e.com,f.com,g.com,h.com,i.com,j.com")
}

// BenchmarkBareHandler is the reference for BenchmarkD: go test ./api -run '^$' -bench 'BenchmarkBareHandler$' -benchmem
func BenchmarkBareHandler(b *testing.B) {
	serveLoop(b, bareHandler(), "/d?host=api.example.com")
}

// BenchmarkBareHandlerParallel is the reference for BenchmarkDParallel.
func BenchmarkBareHandlerParallel(b *testing.B) {
	serveParallel(b, bareHandler(), "/d?host=api.example.com")
}

// BenchmarkDServer is the cache-hit /d served on loopback.
func BenchmarkDServer(b *testing.B) {
	serveConns(b, benchAPI(b), "/d?host=api.example.com")
}

// BenchmarkBareServer is the reference for BenchmarkDServer.
func BenchmarkBareServer(b *testing.B) {
	serveConns(b, bareHandler(), "/d?host=api.example.com")
}

// serveConns runs h in an httptest.Server and sends it requests for target on 64 keep-alive
// connections, one request at a time each, reading the answers with as little work as possible so
// that the client's cost stays small next to the server's.
func serveConns(b *testing.B, h http.Handler, target string) {
	b.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req := []byte("GET " + target + " HTTP/1.1\r\nHost: bench\r\n\r\n")
	b.SetParallelism(max(64/runtime.GOMAXPROCS(0), 1))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		br := bufio.NewReaderSize(conn, 4096)
		for pb.Next() {
			if _, err := conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			if err := readAnswer(br); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// readAnswer reads one HTTP/1.1 response with a Content-Length and checks it is a 200.
func readAnswer(br *bufio.Reader) error {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status line %q", status)
	}
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if length < 0 {
		return fmt.Errorf("no Content-Length")
	}
	_, err = br.Discard(length)
	return err
}
