package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

func TestReadyz(t *testing.T) {
	t.Parallel()
	var dbErr, upErr atomic.Pointer[error]
	check := func(p *atomic.Pointer[error]) func() error {
		return func() error {
			if e := p.Load(); e != nil {
				return *e
			}
			return nil
		}
	}
	set := func(p *atomic.Pointer[error], err error) {
		if err == nil {
			p.Store(nil)
		} else {
			p.Store(&err)
		}
	}
	ta := newTestAPI(t, Config{ReadyChecks: []ReadyCheck{
		{Name: "databases", Check: check(&dbErr)},
		{Name: "upstreams", Check: check(&upErr)},
	}})
	tests := []struct {
		name       string
		db, up     error
		status     int
		want, omit []string // in the message, not in it
	}{
		{"ready", nil, nil, 200, nil, nil},
		{"no upstream", nil, errors.New("every node is ejected"), 503,
			[]string{"upstreams: every node is ejected"}, []string{"databases"}},
		{"both", errors.New("no geo database"), errors.New("every node is ejected"), 503,
			[]string{"databases: no geo database", "upstreams: every node is ejected"}, nil},
		{"ready again", nil, nil, 200, nil, nil},
	}
	for _, tt := range tests { // in order: each step changes the checks' state
		t.Run(tt.name, func(t *testing.T) {
			set(&dbErr, tt.db)
			set(&upErr, tt.up)
			for _, h := range []http.Handler{ta.Public(), ta.Admin()} {
				w := get(h, "/readyz")
				if tt.status == 200 {
					if w.Code != 200 || w.Body.String() != `{"status":"ok"}`+"\n" {
						t.Errorf("status %d body %s, want 200 ok", w.Code, w.Body)
					}
					continue
				}
				e := wantError(t, w, tt.status, CodeNotReady)
				for _, s := range tt.want {
					if !strings.Contains(e.Message, s) {
						t.Errorf("message %q lacks %q", e.Message, s)
					}
				}
				for _, s := range tt.omit {
					if strings.Contains(e.Message, s) {
						t.Errorf("message %q names %q, which passed", e.Message, s)
					}
				}
				if w := do(h, http.MethodHead, "/readyz", nil); w.Code != tt.status {
					t.Errorf("HEAD: status %d, want %d", w.Code, tt.status)
				}
			}
			// /healthz is liveness: the process answers, ready or not.
			if w := get(ta.Public(), "/healthz"); w.Code != 200 {
				t.Errorf("/healthz: %d while not ready", w.Code)
			}
		})
	}
	wantError(t, do(ta.Public(), http.MethodPost, "/readyz", nil), 405, CodeMethodNotAllowed)
}

func TestReadyzWithoutChecks(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	if w := get(ta.Public(), "/readyz"); w.Code != 200 {
		t.Errorf("no checks: %d %s, want 200", w.Code, w.Body)
	}
}

func TestReadyChecksValidated(t *testing.T) {
	t.Parallel()
	for i, rc := range []ReadyCheck{{Name: "x"}, {Check: func() error { return nil }}} {
		_, err := New(Config{Resolver: &fakeResolver{}, ReadyChecks: []ReadyCheck{rc}})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("ReadyChecks[%d]", 0)) {
			t.Errorf("check %d: New = %v, want an error naming ReadyChecks[0]", i, err)
		}
	}
}
