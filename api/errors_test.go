package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/resolver"
)

func TestWriteError(t *testing.T) {
	t.Parallel()
	parseErr := fmt.Errorf("parsing whitelist: %w",
		&resolver.ParseError{Line: 7, Text: "x.com bogus", Err: errors.New("unknown tier")})
	tests := []struct {
		name     string
		err      error
		canceled bool // the client has gone
		status   int
		code     string
		msg      string
	}{
		{"missing", errMissingArgument("host"), false, 400, CodeMissingArgument, `"host"`},
		{"invalid host", errInvalidHost("a..b"), false, 400, CodeInvalidHost, `"a..b"`},
		{"long input is cut", errInvalidHost(strings.Repeat("x", 1000)), false, 400, CodeInvalidHost, "\"..."},
		{"invalid ip", errInvalidIP("1.2"), false, 400, CodeInvalidIP, `"1.2"`},
		{"invalid query", errInvalidQuery("5"), false, 400, CodeInvalidQuery, `"5"`},
		{"too many", errTooManyHosts(11, 10), false, 400, CodeTooManyHosts, "11"},
		{"not found", errNotFound(), false, 404, CodeNotFound, ""},
		{"unauthorized", errUnauthorized(), false, 401, CodeUnauthorized, ""},
		{"admin disabled", errAdminDisabled(), false, 403, CodeAdminDisabled, ""},
		{"whitelist line", parseErr, false, 400, CodeInvalidWhitelist, "line 7"},
		{"max bytes", fmt.Errorf("reading: %w", &http.MaxBytesError{Limit: 1 << 20}), false, 413, CodePayloadTooLarge, "1048576"},
		{"invalid name", fmt.Errorf("x: %w", resolver.ErrInvalidName), false, 400, CodeInvalidHost, ""},
		{"upstream", fmt.Errorf("x: %w", resolver.ErrUpstreamUnavailable), false, 503, CodeUpstreamUnavailable, ""},
		{"upstream busy", fmt.Errorf("x: %w", resolver.ErrUpstreamBusy), false, 503, CodeUpstreamBusy, "retry"},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false, 503, CodeUpstreamUnavailable, "timed out"},
		{"client gone", context.Canceled, true, StatusClientClosedRequest, CodeClientClosedRequest, ""},
		{"canceled, client still there", context.Canceled, false, 500, CodeInternalError, "internal error"},
		{"invalid type is ours", resolver.ErrInvalidType, false, 500, CodeInternalError, "internal error"},
		{"unknown", errors.New("open /etc/secret: permission denied"), false, 500, CodeInternalError, "internal error"},
	}
	ta := newTestAPI(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/d", nil)
			if tt.canceled {
				ctx, cancel := context.WithCancel(r.Context())
				cancel()
				r = r.WithContext(ctx)
			}
			w := httptest.NewRecorder()
			ta.writeError(w, r, tt.err)
			e := wantError(t, w, tt.status, tt.code)
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message %q lacks %q", e.Message, tt.msg)
			}
			if tt.status == 500 && e.Message != "internal error" {
				t.Errorf("500 message %q reveals more than \"internal error\"", e.Message)
			}
		})
	}
}

func TestPublicRouting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, target string
		status               int
		code, allow          string
	}{
		{"healthz", "GET", "/healthz", 200, "", ""},
		{"unknown path", "GET", "/nope", 404, CodeNotFound, ""},
		{"subpath", "GET", "/d/x?host=a.example.com", 404, CodeNotFound, ""},
		{"admin path on public", "GET", "/admin/domains", 404, CodeNotFound, ""},
		{"metrics on public", "GET", "/metrics", 404, CodeNotFound, ""},
		{"POST /d", "POST", "/d?host=a.example.com", 405, CodeMethodNotAllowed, "GET, HEAD"},
		{"DELETE /resolve", "DELETE", "/resolve?host=a.example.com", 405, CodeMethodNotAllowed, "GET, HEAD"},
		{"PUT /healthz", "PUT", "/healthz", 405, CodeMethodNotAllowed, "GET, HEAD"},
	}
	ta := newTestAPI(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := do(ta.Public(), tt.method, tt.target, nil)
			if tt.status == 200 {
				if w.Code != 200 || w.Body.String() != `{"status":"ok"}`+"\n" {
					t.Errorf("status %d body %s", w.Code, w.Body)
				}
				return
			}
			wantError(t, w, tt.status, tt.code)
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestPanicAfterWriteAborts(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	h := ta.route(epOther, false, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"partial":`))
		panic("half way")
	})
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", v)
		}
		if !strings.Contains(ta.log.String(), "half way") {
			t.Errorf("panic not logged: %s", ta.log)
		}
	}()
	get(h, "/")
}
