package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/resolver"
)

// batchBody is /resolve's answer.
type batchBody struct {
	DNS []struct {
		Host      string    `json:"host"`
		ClientIP  string    `json:"client_ip"`
		IPs       *[]string `json:"ips"`
		Type      uint16    `json:"type"`
		TTL       uint32    `json:"ttl"`
		OriginTTL uint32    `json:"origin_ttl"`
		Scope     string    `json:"scope"`
		Error     string    `json:"error"`
	} `json:"dns"`
}

func decodeBatch(t *testing.T, w interface{ Bytes() []byte }) batchBody {
	t.Helper()
	var b batchBody
	decodeStrict(t, w.Bytes(), &b)
	for _, e := range b.DNS {
		if e.IPs == nil {
			t.Fatalf("element without ips array: %s", w.Bytes())
		}
	}
	return b
}

// order lists a batch answer's elements as host/type.
func (b batchBody) order() string {
	var s []string
	for _, e := range b.DNS {
		s = append(s, fmt.Sprintf("%s/%d", e.Host, e.Type))
	}
	return strings.Join(s, " ")
}

func TestResolveShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, query, golden, order string
	}{
		{"default 4", "host=a.example.com,b.example.com", "resolve_query4.json",
			"a.example.com/1 b.example.com/1"},
		{"4,6 host-major", "host=a.example.com,b.example.com&query=4,6", "resolve_query46.json",
			"a.example.com/1 a.example.com/28 b.example.com/1 b.example.com/28"},
		{"6,4 keeps the query order", "host=c.example.com,a.example.com&query=6,4", "",
			"c.example.com/28 c.example.com/1 a.example.com/28 a.example.com/1"},
		{"request order", "host=c.example.com,a.example.com,b.example.com", "",
			"c.example.com/1 a.example.com/1 b.example.com/1"},
		{"duplicates listed once", "host=a.example.com,B.example.com,A.Example.com.,b.example.com", "",
			"a.example.com/1 B.example.com/1"},
		{"partial failure", "host=a.example.com,fail.example.com,nx.example.com&query=4", "resolve_partial.json",
			"a.example.com/1 fail.example.com/1 nx.example.com/1"},
	}
	ta := newTestAPI(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := get(ta.Public(), "/resolve?"+tt.query)
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if tt.golden != "" {
				golden(t, tt.golden, w.Body.Bytes())
			}
			b := decodeBatch(t, w.Body)
			if got := b.order(); got != tt.order {
				t.Errorf("order %q, want %q", got, tt.order)
			}
			for _, e := range b.DNS {
				checkElement(t, e.Host, e.Type, e.ClientIP, *e.IPs, e.Error)
			}
		})
	}
}

// checkElement checks one batch element against the fake resolver's rules.
func checkElement(t *testing.T, host string, qtype uint16, client string, ips []string, errCode string) {
	t.Helper()
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	want, wantErr := fakeIPs(name, qtype, "192.0.2.1"), ""
	switch {
	case strings.HasPrefix(name, "fail."):
		want, wantErr = []string{}, CodeUpstreamUnavailable
	case strings.HasPrefix(name, "nx."):
		want = []string{}
	}
	if client != "192.0.2.1" || !slices.Equal(ips, want) || errCode != wantErr {
		t.Errorf("%s/%d: client_ip %s ips %v error %q, want 192.0.2.1 %v %q",
			host, qtype, client, ips, errCode, want, wantErr)
	}
}

func TestResolveDuplicatesResolvedOnce(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	get(ta.Public(), "/resolve?host=dup.example.com,DUP.example.com.,dup.example.com&query=4,6")
	for _, qt := range []uint16{resolver.TypeA, resolver.TypeAAAA} {
		if n := ta.res.callsFor("dup.example.com", qt); n != 1 {
			t.Errorf("type %d resolved %d times, want 1", qt, n)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	hosts := func(n int) string {
		var h []string
		for i := range n {
			h = append(h, fmt.Sprintf("h%d.example.com", i))
		}
		return strings.Join(h, ",")
	}
	tests := []struct {
		name, query string
		limit       int
		status      int
		code, msg   string
	}{
		{"at the default limit", "host=" + hosts(10), 0, 200, "", ""},
		{"over the default limit", "host=" + hosts(11), 0, 400, CodeTooManyHosts, "11"},
		{"at a set limit", "host=" + hosts(3), 3, 200, "", ""},
		{"limit+1", "host=" + hosts(4), 3, 400, CodeTooManyHosts, "at most 3"},
		{"duplicates count", "host=a.com,a.com,a.com,a.com", 3, 400, CodeTooManyHosts, ""},
		{"no host", "query=4", 0, 400, CodeMissingArgument, "host"},
		{"invalid host named", "host=ok.example.com,bad_-.example..com", 0, 400, CodeInvalidHost, "bad_-.example..com"},
		{"empty element", "host=a.example.com,,b.example.com", 0, 400, CodeInvalidHost, `""`},
		{"invalid query", "host=a.example.com&query=7", 0, 400, CodeInvalidQuery, "7"},
		{"invalid ip", "host=a.example.com&ip=300.1.1.1", 0, 400, CodeInvalidIP, "300.1.1.1"},
		{"every resolution fails", "host=fail.example.com,fail.example.net", 0, 503, CodeUpstreamUnavailable, ""},
		{"first error wins", "host=refused.example.com,fail.example.net", 0, 400, CodeInvalidHost, ""},
		{"panic on a worker", "host=panic.example.com", 0, 500, CodeInternalError, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ta := newTestAPI(t, Config{BatchLimit: tt.limit})
			w := get(ta.Public(), "/resolve?"+tt.query)
			if tt.status == 200 {
				if w.Code != 200 {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
				return
			}
			if e := wantError(t, w, tt.status, tt.code); !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message %q lacks %q", e.Message, tt.msg)
			}
		})
	}
}

func TestResolvePartialCodes(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	w := get(ta.Public(), "/resolve?host=a.example.com,panic.example.com,refused.example.com")
	b := decodeBatch(t, w.Body)
	got := fmt.Sprintf("%s|%s|%s", b.DNS[0].Error, b.DNS[1].Error, b.DNS[2].Error)
	if want := "|" + CodeInternalError + "|" + CodeInvalidHost; got != want {
		t.Errorf("element errors %q, want %q", got, want)
	}
	if strings.Contains(w.Body.String(), "exploded") {
		t.Errorf("panic detail leaked: %s", w.Body)
	}
}

// barrierResolver blocks each call until n calls are in flight together (or ctx is done), then lets
// every call through.
type barrierResolver struct {
	n        int
	mu       sync.Mutex
	inflight int
	opened   bool
	open     chan struct{}
}

func (b *barrierResolver) Resolve(ctx context.Context, q resolver.Query) (resolver.Answer, error) {
	b.mu.Lock()
	b.inflight++
	if b.inflight == b.n && !b.opened {
		b.opened = true
		close(b.open)
	}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inflight--
		b.mu.Unlock()
	}()
	select {
	case <-b.open:
		return fakeAnswer(q.Name, q.Qtype, q.Client), nil
	case <-ctx.Done():
		return resolver.Answer{}, ctx.Err()
	}
}

func TestResolveConcurrencyIsBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		barrier int
		status  int
	}{
		// 20 hosts: if they ran one at a time the barrier would never open.
		{"runs maxBatchParallel at once", maxBatchParallel, 200},
		// and never more: one more than the bound can never be waiting together.
		{"never more", maxBatchParallel + 1, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			br := &barrierResolver{n: tt.barrier, open: make(chan struct{})}
			ta := newTestAPI(t, Config{Resolver: br, BatchLimit: 20, Timeout: 200 * time.Millisecond})
			var hosts []string
			for i := range 20 {
				hosts = append(hosts, fmt.Sprintf("h%d.example.com", i))
			}
			w := get(ta.Public(), "/resolve?host="+strings.Join(hosts, ","))
			if w.Code != tt.status {
				t.Errorf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
		})
	}
}
