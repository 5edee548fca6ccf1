package api

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/resolver"
)

// dBody is /d's answer; pointers tell a missing field from an empty one.
type dBody struct {
	Host      string    `json:"host"`
	ClientIP  string    `json:"client_ip"`
	IPs       *[]string `json:"ips"`
	IPsV6     *[]string `json:"ipsv6"`
	TTL       *uint32   `json:"ttl"`
	OriginTTL *uint32   `json:"origin_ttl"`
	Scope     string    `json:"scope"`
}

func decodeD(t *testing.T, body []byte) dBody {
	t.Helper()
	var d dBody
	decodeStrict(t, body, &d)
	if d.IPs == nil || d.IPsV6 == nil || d.TTL == nil || d.OriginTTL == nil {
		t.Fatalf("missing field (ips and ipsv6 must be arrays, never absent or null): %s", body)
	}
	return d
}

func TestDShapes(t *testing.T) {
	t.Parallel()
	a4 := fakeAnswer("api.example.com", resolver.TypeA, netip.MustParseAddr("192.0.2.1"))
	a6 := fakeAnswer("api.example.com", resolver.TypeAAAA, netip.MustParseAddr("192.0.2.1"))
	tests := []struct {
		name, query, golden string
		ips, ipsv6          []string
		ttl, origin         uint32
	}{
		{"default is 4", "host=api.example.com", "d_query4.json",
			fakeIPs("api.example.com", resolver.TypeA, "192.0.2.1"), []string{}, a4.TTL, a4.OriginTTL},
		{"4", "host=api.example.com&query=4", "d_query4.json",
			fakeIPs("api.example.com", resolver.TypeA, "192.0.2.1"), []string{}, a4.TTL, a4.OriginTTL},
		{"6", "host=api.example.com&query=6", "d_query6.json",
			[]string{}, fakeIPs("api.example.com", resolver.TypeAAAA, "192.0.2.1"), a6.TTL, a6.OriginTTL},
		{"4,6", "host=api.example.com&query=4,6", "d_query46.json",
			fakeIPs("api.example.com", resolver.TypeA, "192.0.2.1"),
			fakeIPs("api.example.com", resolver.TypeAAAA, "192.0.2.1"),
			min(a4.TTL, a6.TTL), min(a4.OriginTTL, a6.OriginTTL)},
		{"6,4 is 4,6", "host=api.example.com&query=6,4", "d_query46.json",
			fakeIPs("api.example.com", resolver.TypeA, "192.0.2.1"),
			fakeIPs("api.example.com", resolver.TypeAAAA, "192.0.2.1"),
			min(a4.TTL, a6.TTL), min(a4.OriginTTL, a6.OriginTTL)},
		{"escaped comma", "host=api.example.com&query=4%2C6", "d_query46.json",
			fakeIPs("api.example.com", resolver.TypeA, "192.0.2.1"),
			fakeIPs("api.example.com", resolver.TypeAAAA, "192.0.2.1"),
			min(a4.TTL, a6.TTL), min(a4.OriginTTL, a6.OriginTTL)},
		{"nxdomain is empty, not an error", "host=nx.example.com&query=4,6", "d_nxdomain.json",
			[]string{}, []string{}, 30, 30},
	}
	ta := newTestAPI(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := get(ta.Public(), "/d?"+tt.query)
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, Content-Type %q: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			golden(t, tt.golden, w.Body.Bytes())
			d := decodeD(t, w.Body.Bytes())
			host, _, _ := strings.Cut(strings.TrimPrefix(tt.query, "host="), "&")
			if d.Host != host || d.ClientIP != "192.0.2.1" {
				t.Errorf("host %q client_ip %q, want %q 192.0.2.1", d.Host, d.ClientIP, host)
			}
			if !slices.Equal(*d.IPs, tt.ips) || !slices.Equal(*d.IPsV6, tt.ipsv6) {
				t.Errorf("ips %v ipsv6 %v, want %v %v", *d.IPs, *d.IPsV6, tt.ips, tt.ipsv6)
			}
			if *d.TTL != tt.ttl || *d.OriginTTL != tt.origin {
				t.Errorf("ttl %d origin_ttl %d, want %d %d", *d.TTL, *d.OriginTTL, tt.ttl, tt.origin)
			}
		})
	}
}

func TestDScopeOmittedWhenEmpty(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	w := get(ta.Public(), "/d?host=nx.example.com")
	if strings.Contains(w.Body.String(), "scope") {
		t.Errorf("empty scope written: %s", w.Body)
	}
	w = get(ta.Public(), "/d?host=api.example.com&query=6")
	if d := decodeD(t, w.Body.Bytes()); d.Scope != "192.0.2.0/24" {
		t.Errorf("scope %q, want the AAAA answer's 192.0.2.0/24", d.Scope)
	}
}

func TestDTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		fams        string
		a4, a6      resolver.Answer
		ttl, origin uint32
		scope       string
	}{
		{"4", "4", resolver.Answer{TTL: 5, OriginTTL: 9, Scope: "a"}, resolver.Answer{}, 5, 9, "a"},
		{"6", "6", resolver.Answer{}, resolver.Answer{TTL: 7, OriginTTL: 8, Scope: "b"}, 7, 8, "b"},
		{"both, A smaller", "4,6", resolver.Answer{TTL: 5, OriginTTL: 50, Scope: "a"},
			resolver.Answer{TTL: 7, OriginTTL: 9, Scope: "b"}, 5, 9, "a"},
		{"both, zero ignored", "4,6", resolver.Answer{TTL: 0, OriginTTL: 0},
			resolver.Answer{TTL: 7, OriginTTL: 9}, 7, 9, ""},
		{"both zero", "6,4", resolver.Answer{}, resolver.Answer{}, 0, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fams, err := parseFamilies(param{val: tt.fams, set: true})
			if err != nil {
				t.Fatal(err)
			}
			ttl, origin, scope := dTTL(fams, &tt.a4, &tt.a6)
			if ttl != tt.ttl || origin != tt.origin || scope != tt.scope {
				t.Errorf("dTTL = %d %d %q, want %d %d %q", ttl, origin, scope, tt.ttl, tt.origin, tt.scope)
			}
		})
	}
}

func TestDErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 64) + ".example.com"
	tests := []struct {
		name, query string
		status      int
		code        string
	}{
		{"no host", "", 400, CodeMissingArgument},
		{"empty host", "host=&query=4", 400, CodeMissingArgument},
		{"empty label", "host=a..example.com", 400, CodeInvalidHost},
		{"label over 63", "host=" + long, 400, CodeInvalidHost},
		{"ipv4 literal", "host=1.2.3.4", 400, CodeInvalidHost},
		{"ipv6 literal", "host=%3A%3A1", 400, CodeInvalidHost},
		{"bad escape in host", "host=a%zz.com", 400, CodeInvalidHost},
		{"resolver refuses the name", "host=refused.example.com", 400, CodeInvalidHost},
		{"bad ip", "host=a.example.com&ip=1.2.3", 400, CodeInvalidIP},
		{"ip with zone", "host=a.example.com&ip=fe80::1%25eth0", 400, CodeInvalidIP},
		{"bad escape in ip", "host=a.example.com&ip=1.2.3.4%", 400, CodeInvalidIP},
		{"query 5", "host=a.example.com&query=5", 400, CodeInvalidQuery},
		{"query 4,4", "host=a.example.com&query=4,4", 400, CodeInvalidQuery},
		{"query 46", "host=a.example.com&query=46", 400, CodeInvalidQuery},
		{"upstream down", "host=fail.example.com", 503, CodeUpstreamUnavailable},
		{"AAAA upstream down fails 4,6", "host=fail6.example.com&query=4,6", 503, CodeUpstreamUnavailable},
		{"upstream busy", "host=busy.example.com", 503, CodeUpstreamBusy},
		{"unknown error", "host=secret.example.com", 500, CodeInternalError},
		{"panic", "host=panic.example.com", 500, CodeInternalError},
		{"panic on the AAAA goroutine", "host=panic6.example.com&query=4,6", 500, CodeInternalError},
	}
	ta := newTestAPI(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, get(ta.Public(), "/d?"+tt.query), tt.status, tt.code)
		})
	}
}

func TestErrorShape(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	tests := []struct{ target, golden string }{
		{"/d?host=a..example.com", "error_invalid_host.json"},
		{"/resolve?host=fail.example.com", "error_upstream_unavailable.json"},
		{"/d?host=secret.example.com", "error_internal.json"},
	}
	for _, tt := range tests {
		golden(t, tt.golden, get(ta.Public(), tt.target).Body.Bytes())
	}
}

func TestDFamilyFailureOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	w := get(ta.Public(), "/d?host=fail6.example.com&query=4")
	if d := decodeD(t, w.Body.Bytes()); w.Code != 200 || len(*d.IPs) != 2 {
		t.Errorf("status %d body %s: want the A answer", w.Code, w.Body)
	}
}

func TestInternalErrorRevealsNothing(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	for _, host := range []string{"secret.example.com", "panic.example.com"} {
		w := get(ta.Public(), "/d?host="+host)
		e := wantError(t, w, 500, CodeInternalError)
		if e.Message != "internal error" {
			t.Errorf("message %q, want \"internal error\"", e.Message)
		}
	}
	logged := ta.log.String()
	for _, want := range []string{"secret internal detail", "resolver exploded", "stack="} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %q:\n%s", want, logged)
		}
	}
}

func TestDDeadline(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	ta := newTestAPI(t, Config{Timeout: timeout})
	for _, target := range []string{"/d?host=block.example.com", "/d?host=block.example.com&query=4,6",
		"/resolve?host=block.example.com,block.example.net"} {
		start := time.Now()
		w := get(ta.Public(), target)
		elapsed := time.Since(start)
		wantError(t, w, 503, CodeUpstreamUnavailable)
		// The resolver returns when the deadline passes; a second is slack for a loaded machine.
		if elapsed < timeout || elapsed > timeout+time.Second {
			t.Errorf("%s answered after %v, want just past %v", target, elapsed, timeout)
		}
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	if w := do(ta.Public(), http.MethodHead, "/d?host=api.example.com", nil); w.Code != 200 {
		t.Errorf("HEAD /d: status %d", w.Code)
	}
}
