package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/httpdns/httpdns/resolver"
)

// blockingExplainer holds every Explain until release is closed, counting those inside.
type blockingExplainer struct {
	inside  atomic.Int64
	release chan struct{}
}

func (b *blockingExplainer) Explain(ctx context.Context, q resolver.Query) (resolver.Explanation, error) {
	b.inside.Add(1)
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return explainer{}.Explain(ctx, q)
}

// TestLookupsBounded: a flood of lookups (each asks upstream) holds at most maxLookups in flight; the
// others get 429 TooManyRequests at once, in the console's JSON, with Retry-After.
func TestLookupsBounded(t *testing.T) {
	t.Parallel()
	ex := &blockingExplainer{release: make(chan struct{})}
	c, err := New(Config{Explainer: ex})
	if err != nil {
		t.Fatal(err)
	}
	h := c.Handler()
	const flood = 12
	var (
		wg       sync.WaitGroup
		rejected atomic.Int64
		mu       sync.Mutex
		codes    = map[int]int{}
	)
	for range flood {
		wg.Go(func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/console/api/lookup?client=20.0.16.9&name=img.cdn-a.test", nil))
			mu.Lock()
			codes[w.Code]++
			mu.Unlock()
			if w.Code == http.StatusTooManyRequests {
				var e struct{ Code string }
				if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Code != "TooManyRequests" || w.Header().Get("Retry-After") == "" {
					t.Errorf("429 %q (Retry-After %q), want code TooManyRequests and a Retry-After", w.Body, w.Header().Get("Retry-After"))
				}
				rejected.Add(1)
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for ex.inside.Load()+rejected.Load() < flood && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	inside := ex.inside.Load()
	close(ex.release)
	wg.Wait()
	if inside != maxLookups || codes[http.StatusOK] != maxLookups || codes[http.StatusTooManyRequests] != flood-maxLookups {
		t.Fatalf("%d lookups in flight at once, answers %v; want %d in flight, answered 200, the other %d 429",
			inside, codes, maxLookups, flood-maxLookups)
	}
	// The slots come back: a lookup after the flood goes through.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/console/api/lookup?client=20.0.16.9&name=img.cdn-a.test", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("a lookup after the flood: %d %s", w.Code, w.Body)
	}
}

// TestHostileRequests: odd methods, parameters and bodies on every data endpoint get a 4xx in the
// console's JSON (never a 500), with the console's security headers.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	tc := newTestConsole(t)
	long := strings.Repeat("a", 70000)
	for _, r := range []struct {
		method, target, body string
		status               int
		code, allow          string
	}{
		{http.MethodPost, "/console/api/lookup?client=1.2.3.4&name=a.test", "", 405, "MethodNotAllowed", "GET, HEAD"},
		{http.MethodDelete, "/console/api/overview", "", 405, "MethodNotAllowed", "GET, HEAD"},
		{http.MethodGet, "/console/api/validate", "", 405, "MethodNotAllowed", "POST"},
		{http.MethodPut, "/console/api/cidrdb/map.png", "", 405, "MethodNotAllowed", "GET, HEAD"},
		{http.MethodGet, "/console/api/nothing", "", 404, "NotFound", ""},
		{http.MethodGet, "/console/api/lookup?name=a.test", "", 400, "InvalidIP", ""},
		{http.MethodGet, "/console/api/lookup?client=fe80::1%25eth0&name=a.test", "", 400, "InvalidIP", ""},
		{http.MethodGet, "/console/api/lookup?client=1.2.3.4&name=a.test&type=%00", "", 400, "InvalidQuery", ""},
		{http.MethodGet, "/console/api/cidrdb/lookup?ip=" + long, "", 400, "InvalidIP", ""},
		{http.MethodGet, "/console/api/cidrdb/map.png?prefix=::/0", "", 400, "InvalidQuery", ""},
		{http.MethodGet, "/console/api/cidrdb/map.png?prefix=10.0.0.0/24", "", 400, "InvalidQuery", ""},
		{http.MethodPost, "/console/api/validate", strings.Repeat("x", 1<<20+1), 413, "PayloadTooLarge", ""},
	} {
		w := httptest.NewRecorder()
		tc.h.ServeHTTP(w, httptest.NewRequest(r.method, r.target, strings.NewReader(r.body)))
		var e struct{ Code string }
		short := r.target[:min(len(r.target), 60)]
		if w.Code != r.status || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Code != r.code {
			t.Errorf("%s %s: %d %.80q, want %d %s", r.method, short, w.Code, w.Body, r.status, r.code)
		}
		if got := w.Header().Get("Allow"); got != r.allow {
			t.Errorf("%s %s: Allow %q, want %q", r.method, short, got, r.allow)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: headers %v", r.method, short, w.Header())
		}
	}
	// A binary whitelist is validated, not a failure: each bad line comes back, at most 20.
	var v validation
	bin := strings.Repeat("\x00\xff\xfe binary\n", 5000)
	if w := tc.do(t, http.MethodPost, "/console/api/validate", bin, &v); w.Code != 200 || v.OK || len(v.Errors) == 0 || len(v.Errors) > 20 {
		t.Errorf("binary whitelist: %d ok=%v with %d errors, want 200, refused with at most 20", w.Code, v.OK, len(v.Errors))
	}
}
