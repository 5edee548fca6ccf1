package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestConsoleMount checks that the console's pages are served without a token and its data only
// with the admin token, through the same check as /admin/*.
func TestConsoleMount(t *testing.T) {
	t.Parallel()
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("console " + r.URL.Path)) })
	ta := newTestAPI(t, Config{AdminToken: token, Console: page})
	h := ta.Admin()
	if w := get(h, "/console/"); w.Code != http.StatusOK || w.Body.String() != "console /console/" {
		t.Errorf("page without a token: %d %q", w.Code, w.Body)
	}
	wantError(t, get(h, "/console/api/overview"), http.StatusUnauthorized, CodeUnauthorized)
	wantError(t, get(h, "/console/api/overview", bearer("Bearer wrong")), http.StatusUnauthorized, CodeUnauthorized)
	if w := get(h, "/console/api/overview", bearer("Bearer "+token)); w.Code != http.StatusOK {
		t.Errorf("data with the token: %d %s", w.Code, w.Body)
	}
	wantError(t, do(h, http.MethodPost, "/console/", nil), http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	// What the api refuses before the console sees it carries the console's headers too.
	for _, w := range []*httptest.ResponseRecorder{get(h, "/console/api/overview"), do(h, http.MethodPost, "/console/", nil)} {
		for name, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
			if got := w.Header().Get(name); got != want {
				t.Errorf("%d answer: %s %q, want %q", w.Code, name, got, want)
			}
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%d answer: Content-Security-Policy %q", w.Code, csp)
		}
	}

	bare := newTestAPI(t, Config{AdminToken: token})
	wantError(t, get(bare.Admin(), "/console/"), http.StatusNotFound, CodeNotFound)
}
