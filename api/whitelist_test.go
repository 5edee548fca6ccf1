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
