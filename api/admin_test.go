package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/httpdns/httpdns/resolver"
)

const token = "s3cret-token"

// memWhitelist keeps the whitelist in memory and checks lines the way the format says (domain, tier,
// optional refresh), just enough to produce the errors the api maps. failWith makes Replace fail as a
// full disk would.
type memWhitelist struct {
	mu       sync.Mutex
	text     []byte
	failWith error
}

func (m *memWhitelist) Text() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.text
}

func (m *memWhitelist) Replace(text []byte) error {
	for i, line := range strings.Split(string(text), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 2 || len(f) > 3 || !strings.Contains("subnet cityisp global", f[1]) {
			return fmt.Errorf("parsing whitelist: %w",
				&resolver.ParseError{Line: i + 1, Text: line, Err: errors.New("want: domain tier [refresh]")})
		}
	}
	if m.failWith != nil {
		return m.failWith
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.text = bytes.Clone(text)
	return nil
}

func bearer(tok string) func(*http.Request) { return withHeader("Authorization", tok) }

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, token, auth string
		status            int
		code              string
	}{
		{"no token configured", "", "Bearer " + token, 403, CodeAdminDisabled},
		{"no header", token, "", 401, CodeUnauthorized},
		{"wrong token", token, "Bearer nope", 401, CodeUnauthorized},
		{"token prefix", token, "Bearer " + token[:5], 401, CodeUnauthorized},
		{"token plus more", token, "Bearer " + token + "x", 401, CodeUnauthorized},
		{"other scheme", token, "Basic " + token, 401, CodeUnauthorized},
		{"no scheme", token, token, 401, CodeUnauthorized},
		{"right", token, "Bearer " + token, 200, ""},
		{"scheme is case-insensitive", token, "bearer " + token, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ta := newTestAPI(t, Config{AdminToken: tt.token, Whitelist: &memWhitelist{}})
			w := get(ta.Admin(), "/admin/domains", bearer(tt.auth))
			if tt.status == 200 {
				if w.Code != 200 {
					t.Errorf("status %d: %s", w.Code, w.Body)
				}
				return
			}
			wantError(t, w, tt.status, tt.code)
			if tt.status == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

func TestAdminDomains(t *testing.T) {
	t.Parallel()
	const old = "# priority\napi.example.com subnet active\n"
	tests := []struct {
		name    string
		body    string
		chunked bool
		fail    error
		status  int
		code    string
		msg     string
	}{
		{"good", "*.example.com subnet\nimg.example.com global passive\n", false, nil, 200, "", ""},
		{"bad line", "a.example.com subnet\n\nb.example.com nosuchtier\n", false, nil, 400, CodeInvalidWhitelist, "line 3"},
		{"over 1 MiB", strings.Repeat("# padding\n", MaxWhitelistBytes/10+1), false, nil, 413, CodePayloadTooLarge, "1048576"},
		{"over 1 MiB, no length", strings.Repeat("# padding\n", MaxWhitelistBytes/10+1), true, nil, 413, CodePayloadTooLarge, ""},
		{"persisting fails", "a.example.com subnet\n", false, errors.New("disk full at /var/lib/x"), 500, CodeInternalError, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wl := &memWhitelist{text: []byte(old), failWith: tt.fail}
			ta := newTestAPI(t, Config{AdminToken: token, Whitelist: wl})
			w := do(ta.Admin(), http.MethodPut, "/admin/domains", []byte(tt.body), bearer("Bearer "+token),
				func(r *http.Request) {
					if tt.chunked {
						r.ContentLength = -1
					}
				})
			want := tt.body
			if tt.status == 200 {
				if w.Code != 200 || w.Body.String() != `{"status":"ok"}`+"\n" {
					t.Errorf("status %d body %s", w.Code, w.Body)
				}
			} else {
				want = old
				if e := wantError(t, w, tt.status, tt.code); !strings.Contains(e.Message, tt.msg) {
					t.Errorf("message %q lacks %q", e.Message, tt.msg)
				}
			}
			w = get(ta.Admin(), "/admin/domains", bearer("Bearer "+token))
			if w.Body.String() != want || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("GET after PUT: %q (%s), want %q", w.Body, w.Header().Get("Content-Type"), want)
			}
		})
	}
}

func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, target string
		cfg                  Config
		auth                 bool
		status               int
		code                 string
	}{
		{"healthz", "GET", "/healthz", Config{}, false, 200, ""},
		{"metrics", "GET", "/metrics", Config{}, false, 200, ""},
		{"unknown path", "GET", "/admin/nope", Config{AdminToken: token}, true, 404, CodeNotFound},
		{"POST domains", "POST", "/admin/domains", Config{AdminToken: token, Whitelist: &memWhitelist{}}, true, 405, CodeMethodNotAllowed},
		{"POST domains unauthorised", "POST", "/admin/domains", Config{AdminToken: token, Whitelist: &memWhitelist{}}, false, 401, CodeUnauthorized},
		{"no whitelist", "GET", "/admin/domains", Config{AdminToken: token}, true, 404, CodeNotFound},
		{"POST metrics", "POST", "/metrics", Config{}, false, 405, CodeMethodNotAllowed},
		{"public path on admin", "GET", "/d?host=a.example.com", Config{}, false, 404, CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ta := newTestAPI(t, tt.cfg)
			var edits []func(*http.Request)
			if tt.auth {
				edits = append(edits, bearer("Bearer "+token))
			}
			w := do(ta.Admin(), tt.method, tt.target, nil, edits...)
			if tt.status != 200 {
				wantError(t, w, tt.status, tt.code)
				return
			}
			if w.Code != 200 {
				t.Errorf("status %d: %s", w.Code, w.Body)
			}
		})
	}
}

func TestAdminMethodNotAllowedAllow(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{AdminToken: token, Whitelist: &memWhitelist{}})
	w := do(ta.Admin(), http.MethodDelete, "/admin/domains", nil, bearer("Bearer "+token))
	if got := w.Header().Get("Allow"); got != "GET, HEAD, PUT" {
		t.Errorf("Allow = %q", got)
	}
}

func TestMetricsNilGatherer(t *testing.T) {
	t.Parallel()
	a, err := New(Config{Resolver: &fakeResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, get(a.Admin(), "/metrics"), 404, CodeNotFound)
}
