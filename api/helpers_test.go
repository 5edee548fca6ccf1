package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/httpdns/httpdns/resolver"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fakeResolver computes answers from the query alone, so the HTTP layer is tested on its own.
// Ordinary names get addresses derived from the name and the client's /24 (IPv6: /56). Names whose
// first label says so misbehave, when tricks is set:
//
//	nx.*       no addresses (NXDOMAIN), TTL 30
//	fail.*     ErrUpstreamUnavailable, both families; fail6.* AAAA only
//	busy.*     ErrUpstreamBusy
//	block.*    blocks until ctx is done
//	panic.*    panics; panic6.* AAAA only
//	secret.*   an unknown error carrying internal detail
//	refused.*  ErrInvalidName
type fakeResolver struct {
	tricks bool

	mu    sync.Mutex
	calls map[string]int // "name/qtype" → calls
}

func (f *fakeResolver) Resolve(ctx context.Context, q resolver.Query) (resolver.Answer, error) {
	name := strings.ToLower(strings.TrimSuffix(q.Name, "."))
	f.count(name, q.Qtype)
	label, _, _ := strings.Cut(name, ".")
	v6 := q.Qtype == resolver.TypeAAAA
	switch {
	case label == "nx":
		return resolver.Answer{Name: name, Qtype: q.Qtype, TTL: 30, OriginTTL: 30, Tier: "global", Source: "hit"}, nil
	case label == "fail" || label == "fail6" && v6:
		return resolver.Answer{}, fmt.Errorf("resolving %s: %w", name, resolver.ErrUpstreamUnavailable)
	case label == "busy":
		return resolver.Answer{}, fmt.Errorf("resolving %s: %w", name, resolver.ErrUpstreamBusy)
	case !f.tricks:
	case label == "block":
		<-ctx.Done()
		return resolver.Answer{}, ctx.Err()
	case label == "panic" || label == "panic6" && v6:
		panic("resolver exploded on " + name)
	case label == "secret":
		return resolver.Answer{}, errors.New("dialing 10.9.9.9:53: secret internal detail")
	case label == "refused":
		return resolver.Answer{}, fmt.Errorf("canonicalising %s: %w", name, resolver.ErrInvalidName)
	}
	return fakeAnswer(name, q.Qtype, q.Client), nil
}

func (f *fakeResolver) count(name string, qtype uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[fmt.Sprintf("%s/%d", name, qtype)]++
}

func (f *fakeResolver) callsFor(name string, qtype uint16) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[fmt.Sprintf("%s/%d", name, qtype)]
}

// fakeAnswer is the deterministic answer for an ordinary name: A 10.H.C.1 and 10.H.C.2, AAAA
// 2001:db8:H::C, where H is a hash byte of the name and C the client's /24 (or /56) byte; scope is the
// client's /24 (or /56); TTL 60+H%60 for A, 90+H%60 for AAAA.
func fakeAnswer(name string, qtype uint16, client netip.Addr) resolver.Answer {
	h := fnv.New32a()
	h.Write([]byte(name))
	hb := byte(h.Sum32())
	var c byte
	scope := ""
	switch {
	case client.Is4():
		c = client.As4()[2]
		scope = netip.PrefixFrom(client, 24).Masked().String()
	case client.Is6():
		c = client.As16()[6]
		scope = netip.PrefixFrom(client, 56).Masked().String()
	}
	ans := resolver.Answer{Name: name, Qtype: qtype, Scope: scope, Tier: "subnet", Source: "hit"}
	if qtype == resolver.TypeA {
		ans.IPs = []netip.Addr{netip.AddrFrom4([4]byte{10, hb, c, 1}), netip.AddrFrom4([4]byte{10, hb, c, 2})}
		ans.TTL, ans.OriginTTL = 60+uint32(hb)%60, 300
		return ans
	}
	ans.IPs = []netip.Addr{netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, hb, 14: 0, 15: c})}
	ans.TTL, ans.OriginTTL = 90+uint32(hb)%60, 600
	return ans
}

// fakeIPs is fakeAnswer's addresses as the JSON carries them.
func fakeIPs(name string, qtype uint16, client string) []string {
	out := []string{}
	for _, ip := range fakeAnswer(name, qtype, netip.MustParseAddr(client)).IPs {
		out = append(out, ip.String())
	}
	return out
}

// testAPI is an API over a fakeResolver with tricks, its own registry and a captured log.
type testAPI struct {
	*API
	res *fakeResolver
	reg *prometheus.Registry
	log *lockedBuffer
}

func newTestAPI(t testing.TB, cfg Config) *testAPI {
	t.Helper()
	ta := &testAPI{res: &fakeResolver{tricks: true}, reg: prometheus.NewRegistry(), log: &lockedBuffer{}}
	if cfg.Resolver == nil {
		cfg.Resolver = ta.res
	}
	cfg.Registerer, cfg.Gatherer = ta.reg, ta.reg
	cfg.Logger = slog.New(slog.NewTextHandler(ta.log, nil))
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ta.API = a
	return ta
}

// get sends a GET for target to h from 192.0.2.1:1234 (httptest's default peer), after edit.
func get(h http.Handler, target string, edit ...func(*http.Request)) *httptest.ResponseRecorder {
	return do(h, http.MethodGet, target, nil, edit...)
}

func do(h http.Handler, method, target string, body []byte, edit ...func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for _, e := range edit {
		e(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func fromPeer(addr string) func(*http.Request) {
	return func(r *http.Request) { r.RemoteAddr = addr }
}

func withHeader(key, val string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Add(key, val) }
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// wantError checks that w is an error answer with status and code, and returns its body.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) errorBody {
	t.Helper()
	if w.Code != status {
		t.Errorf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var e errorBody
	decodeStrict(t, w.Body.Bytes(), &e)
	if e.Code != code || e.Message == "" {
		t.Errorf("body = %+v, want code %s and a message", e, code)
	}
	return e
}

// decodeStrict decodes exactly one JSON value with no unknown fields into v.
func decodeStrict(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	if dec.More() {
		t.Fatalf("trailing data after the JSON value in %s", data)
	}
}

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\ngot  %s\nwant %s", name, got, want)
	}
}

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
