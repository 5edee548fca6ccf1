package api

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/resolver"
)

// The resolver's own Whitelist is what cmd wires in; it must fit the interface the api declares.
var _ Whitelist = (*resolver.Whitelist)(nil)

// TestAdminDomainsRealWhitelist uploads through the admin API into the resolver's file-backed
// whitelist: a bad upload names every bad line and changes neither the served text nor the file.
func TestAdminDomainsRealWhitelist(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "domains.txt")
	const old = "api.example.com subnet active\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	wl, err := resolver.OpenWhitelist(path, cache.TierCityISP)
	if err != nil {
		t.Fatal(err)
	}
	ta := newTestAPI(t, Config{AdminToken: token, Whitelist: wl})
	auth := bearer("Bearer " + token)

	bad := "# new\nimg.example.com global\nvideo.example.com fastest\n*.cdn.example.com subnet sometimes\n"
	w := do(ta.Admin(), http.MethodPut, "/admin/domains", []byte(bad), auth)
	e := wantError(t, w, 400, CodeInvalidWhitelist)
	if !strings.Contains(e.Message, "line 3") || !strings.Contains(e.Message, "line 4") {
		t.Errorf("message %q doesn't name lines 3 and 4", e.Message)
	}
	if got := get(ta.Admin(), "/admin/domains", auth).Body.String(); got != old {
		t.Errorf("served whitelist after a bad upload: %q, want %q", got, old)
	}
	if disk, _ := os.ReadFile(path); string(disk) != old {
		t.Errorf("file after a bad upload: %q, want %q", disk, old)
	}

	good := "img.example.com global\n*.cdn.example.com subnet active\n"
	if w := do(ta.Admin(), http.MethodPut, "/admin/domains", []byte(good), auth); w.Code != 200 {
		t.Fatalf("good upload: %d %s", w.Code, w.Body)
	}
	if got := get(ta.Admin(), "/admin/domains", auth).Body.String(); got != good {
		t.Errorf("served whitelist: %q, want %q", got, good)
	}
	if disk, _ := os.ReadFile(path); string(disk) != good {
		t.Errorf("file: %q, want %q", disk, good)
	}
}

// TestAdminDomainsRefusesEmpty: an upload without rules would silently wipe the whitelist, so it is
// refused unless asked for with allow_empty=1; the file and the served text stay.
func TestAdminDomainsRefusesEmpty(t *testing.T) {
	t.Parallel()
	const old = "api.example.com subnet active\n"
	tests := []struct {
		name, target, body string
		status             int
	}{
		{"empty", "/admin/domains", "", 400},
		{"blank lines", "/admin/domains", "\n  \n\t\n", 400},
		{"comments only", "/admin/domains", "# nothing yet\n   # indented\n", 400},
		{"allow_empty=0", "/admin/domains?allow_empty=0", "", 400},
		{"allow_empty=1", "/admin/domains?allow_empty=1", "", 200},
		{"allow_empty=true, comments", "/admin/domains?allow_empty=true", "# emptied on purpose\n", 200},
		{"one rule", "/admin/domains", "# one\nimg.example.com global\n", 200},
		{"bad line is still InvalidWhitelist", "/admin/domains", "# x\nimg.example.com warp\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "domains.txt")
			if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
				t.Fatal(err)
			}
			wl, err := resolver.OpenWhitelist(path, cache.TierCityISP)
			if err != nil {
				t.Fatal(err)
			}
			ta := newTestAPI(t, Config{AdminToken: token, Whitelist: wl})
			auth := bearer("Bearer " + token)
			w := do(ta.Admin(), http.MethodPut, tt.target, []byte(tt.body), auth)
			want := tt.body
			switch {
			case tt.status == 200:
				if w.Code != 200 {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
			case strings.Contains(tt.body, "warp"):
				wantError(t, w, 400, CodeInvalidWhitelist)
				want = old
			default:
				if e := wantError(t, w, 400, CodeEmptyWhitelist); !strings.Contains(e.Message, "allow_empty=1") {
					t.Errorf("message %q doesn't say how to empty the whitelist", e.Message)
				}
				want = old
			}
			if got := get(ta.Admin(), "/admin/domains", auth).Body.String(); got != want {
				t.Errorf("served whitelist: %q, want %q", got, want)
			}
			if disk, _ := os.ReadFile(path); string(disk) != want {
				t.Errorf("file: %q, want %q", disk, want)
			}
		})
	}
}
