package main

import (
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/internal/cdnsim"
)

// reloadWorld is a service whose CIDRDB covers one IPv4 allocation of the world, first as /24
// blocks, and the records to replace it with one block of the whole allocation.
func reloadWorld(t *testing.T, extra string) (*testService, string, netip.Prefix, []cidrdb.Record) {
	t.Helper()
	w, servers := startWorld(t, 1)
	dir := t.TempDir()
	var alloc netip.Prefix
	var region cdnsim.Region
	for _, r := range w.Regions() {
		if p := r.Prefixes[0]; p.Addr().Is4() && !alloc.IsValid() {
			alloc, region = p, r
		}
	}
	rec := func(p netip.Prefix, id uint32) cidrdb.Record {
		return cidrdb.Record{Network: p, BlockID: id, Country: region.Country, City: region.City, ISP: region.ISP, ASN: region.ASN}
	}
	var fine []cidrdb.Record
	for i, a := 0, alloc.Addr(); alloc.Contains(a); i++ {
		fine = append(fine, rec(netip.PrefixFrom(a, 24), uint32(i+1)))
		for range 256 {
			a = a.Next()
		}
	}
	path := filepath.Join(dir, "cidrdb.mmdb")
	if err := cidrdb.WriteFile(path, fine); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "domains.txt"), []byte("*.cdn-b.test subnet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startService(t, w, writeTestConfig(t, w, dir, addrsOf(servers), "cidrdb: cidrdb.mmdb\n"+extra))
	return s, path, alloc, []cidrdb.Record{rec(alloc, 1)}
}

// scopeOf asks for an echo-CDN name, whose cache key is the client's block.
func scopeOf(t *testing.T, s *testService, client netip.Addr) string {
	t.Helper()
	code, body := get(t, s.public+"/d?host=live.cdn-b.test&ip="+client.String())
	if code != 200 {
		t.Fatalf("/d: %d %v", code, body)
	}
	scope, _ := body["scope"].(string)
	return scope
}

func post(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	return do(t, http.MethodPost, url, token, "")
}

func TestServeCIDRDBReloadOnRequest(t *testing.T) {
	t.Parallel()
	s, path, alloc, coarse := reloadWorld(t, "cidrdb_watch: 0s\n")
	client := s.world.ClientIn(alloc, 1000)
	if got, want := scopeOf(t, s, client), netip.PrefixFrom(client, 24).Masked().String(); got != want {
		t.Fatalf("before reload: scope %q, want %q", got, want)
	}
	// Requests keep flowing during the reload; none may fail.
	var stop atomic.Bool
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for n := 0; !stop.Load(); n++ {
				resp, err := http.Get(s.public + "/d?host=live.cdn-b.test&ip=" + s.world.ClientIn(alloc, i*100+n%50).String())
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		})
	}
	if err := cidrdb.WriteFile(path, coarse); err != nil {
		t.Fatal(err)
	}
	if code, body := post(t, s.admin+"/admin/cidrdb/reload", "wrong"); code != 401 {
		t.Errorf("reload with a wrong token: %d %v", code, body)
	}
	if code, body := post(t, s.admin+"/admin/cidrdb/reload", "secret"); code != 200 {
		t.Fatalf("reload: %d %v", code, body)
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d requests failed during the reload", failed.Load())
	}
	if got := scopeOf(t, s, client); got != alloc.String() {
		t.Errorf("after reload: scope %q, want the new block %v", got, alloc)
	}
	// A bad file is rejected; the new library keeps serving.
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body := post(t, s.admin+"/admin/cidrdb/reload", "secret")
	if code != 422 || body["code"] != "InvalidCIDRDB" {
		t.Errorf("bad file: %d %v, want 422 InvalidCIDRDB", code, body)
	}
	if got := scopeOf(t, s, s.world.ClientIn(alloc, 7)); got != alloc.String() {
		t.Errorf("after a rejected reload: scope %q, want %v", got, alloc)
	}
}

// waitScope polls until client's scope is want or the deadline passes.
func waitScope(t *testing.T, s *testService, client netip.Addr, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for scopeOf(t, s, client) != want {
		if time.Now().After(deadline) {
			t.Fatalf("scope of %v did not become %q within 5 s", client, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeCIDRDBReloadOnFileChange(t *testing.T) {
	t.Parallel()
	s, path, alloc, coarse := reloadWorld(t, "cidrdb_watch: 20ms\n")
	if err := cidrdb.WriteFile(path, coarse); err != nil {
		t.Fatal(err)
	}
	waitScope(t, s, s.world.ClientIn(alloc, 3000), alloc.String())
}

func TestServeCIDRDBReloadOnSIGHUP(t *testing.T) {
	// Not parallel: SIGHUP goes to the whole test process, and every running serve reloads.
	s, path, alloc, coarse := reloadWorld(t, "cidrdb_watch: 0s\n")
	if err := cidrdb.WriteFile(path, coarse); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitScope(t, s, s.world.ClientIn(alloc, 3000), alloc.String())
}
