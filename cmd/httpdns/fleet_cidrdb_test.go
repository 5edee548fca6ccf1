package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/internal/redistest"
)

// cidrdbFleet is three serve nodes on one Redis whose CIDRDB cuts one IPv4 allocation of the world
// into /24 blocks (as reloadWorld's does), and the files of that CIDRDB (fine) and of one that makes
// the allocation one block (coarse).
type cidrdbFleet struct {
	world        *cdnsim.World
	nodes        []*testService
	alloc        netip.Prefix
	fine, coarse string
}

func startCIDRDBFleet(t *testing.T, addrs []string) *cidrdbFleet {
	t.Helper()
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	f := &cidrdbFleet{world: w}
	startCIDRDBFiles(t, f)
	fineBytes, err := os.ReadFile(f.fine)
	if err != nil {
		t.Fatal(err)
	}
	_, f.nodes = startFleetIn(t, w, 3, addrs, "cidrdb: cidrdb.mmdb\ncidrdb_watch: 0s\n",
		map[string][]byte{"cidrdb.mmdb": fineBytes, "domains.txt": []byte("*.cdn-b.test subnet\n")})
	return f
}

// startCIDRDBFiles picks f's allocation in f.world and writes the fine and the coarse CIDRDB into a
// temporary directory, which it returns.
func startCIDRDBFiles(t *testing.T, f *cidrdbFleet) string {
	t.Helper()
	w := f.world
	var region cdnsim.Region
	for _, r := range w.Regions() {
		if p := r.Prefixes[0]; p.Addr().Is4() && !f.alloc.IsValid() {
			f.alloc, region = p, r
		}
	}
	rec := func(p netip.Prefix, id uint32) cidrdb.Record {
		return cidrdb.Record{Network: p, BlockID: id, Country: region.Country, City: region.City, ISP: region.ISP, ASN: region.ASN}
	}
	var fine []cidrdb.Record
	for i, a := 0, f.alloc.Addr(); f.alloc.Contains(a); i++ {
		fine = append(fine, rec(netip.PrefixFrom(a, 24), uint32(i+1)))
		for range 256 {
			a = a.Next()
		}
	}
	dir := t.TempDir()
	f.fine, f.coarse = filepath.Join(dir, "fine.mmdb"), filepath.Join(dir, "coarse.mmdb")
	if err := cidrdb.WriteFile(f.fine, fine); err != nil {
		t.Fatal(err)
	}
	if err := cidrdb.WriteFile(f.coarse, []cidrdb.Record{rec(f.alloc, 1)}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitScopes waits until every node keys a client of the allocation by want's prefix length.
func (f *cidrdbFleet) waitScopes(t *testing.T, bits int, within time.Duration) {
	t.Helper()
	client := f.world.ClientIn(f.alloc, 1000)
	want := netip.PrefixFrom(client, bits).Masked().String()
	for _, n := range f.nodes {
		waitUntil(t, within, "node "+n.public+" does not key "+client.String()+" by "+want, func() bool {
			return scopeOf(t, n, client) == want
		})
	}
}

// publishFile runs `httpdns cidrdb publish FILE -config CFG` and returns its output.
func publishFile(t *testing.T, file, cfg string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"cidrdb", "publish", file, "-config", cfg}, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

// `cidrdb publish` on three nodes: the CIDRDB reaches all three within 1 s and changes what a client
// is keyed by; a bad file is refused before Redis; a bad CIDRDB written into Redis by hand is refused
// by every node, which keep theirs, and the next publish replaces it; Redis restarted empty gets the
// last version back.
func TestServeFleetCIDRDB(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	f := startCIDRDBFleet(t, []string{srv.Addr})
	cfg := filepath.Join(f.nodes[0].dir, "httpdns.yaml")
	rdb, store := redisStore(t, srv.Addr)
	f.waitScopes(t, 24, time.Second)

	start := time.Now()
	out, err := publishFile(t, f.coarse, cfg)
	if err != nil || !regexp.MustCompile(`cidrdb version 1: 1 blocks, \d+ bytes, sha256 [0-9a-f]{64}, by cli@`).MatchString(out) {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	f.waitScopes(t, f.alloc.Bits(), time.Second-time.Since(start))
	t.Logf("the CIDRDB published reached three nodes in %v", time.Since(start).Round(time.Millisecond))
	coarse, _ := os.ReadFile(f.coarse)
	for _, n := range f.nodes {
		if got, _ := os.ReadFile(filepath.Join(n.dir, "cidrdb.mmdb")); !bytes.Equal(got, coarse) {
			t.Errorf("node %s: cidrdb.mmdb is not the published file", n.admin)
		}
		// The state file is written just after the swap.
		waitUntil(t, time.Second, "node "+n.admin+" has no state file naming version 1", func() bool {
			st, err := os.ReadFile(filepath.Join(n.dir, "cidrdb.mmdb.fleet"))
			return err == nil && strings.Contains(string(st), `"version":1`)
		})
	}

	// A file that is no CIDRDB never reaches Redis.
	bad := filepath.Join(t.TempDir(), "bad.mmdb")
	if err := os.WriteFile(bad, []byte("not an mmdb"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := publishFile(t, bad, cfg); err == nil {
		t.Errorf("publishing a bad file succeeded:\n%s", out)
	}
	// One over 64 MiB neither (sparse: nothing is read).
	big := filepath.Join(t.TempDir(), "big.mmdb")
	if err := os.WriteFile(big, nil, 0o644); err != nil || os.Truncate(big, fleet.MaxBodyBytes+1) != nil {
		t.Fatal("making a big file")
	}
	if out, err := publishFile(t, big, cfg); err == nil || !strings.Contains(err.Error(), "64 MiB") {
		t.Errorf("publishing a file over 64 MiB: %v\n%s", err, out)
	}
	if v, err := store.Version(t.Context(), cidrdbKind); v != 1 || err != nil {
		t.Errorf("after refused publishes Redis holds version %d, %v; want 1", v, err)
	}

	// A bad CIDRDB put into Redis by hand, announced: every node refuses it and keeps serving version 1.
	handWriteDoc(t, rdb, cidrdbKind, 2, []byte("not an mmdb either"), true)
	for _, n := range f.nodes {
		waitUntil(t, 2*time.Second, "node "+n.admin+" does not count the bad CIDRDB as rejected", func() bool {
			return metricLine(t, n, `httpdns_fleet_syncs_total{kind="cidrdb",result="rejected"} 1`)
		})
		if !metricLine(t, n, `httpdns_fleet_version{kind="cidrdb"} 1`) {
			t.Errorf("node %s does not report cidrdb version 1 after refusing version 2", n.admin)
		}
	}
	f.waitScopes(t, f.alloc.Bits(), 0)

	// The next publish goes on top of the bad version.
	if out, err := publishFile(t, f.fine, cfg); err != nil || !strings.Contains(out, "cidrdb version 3") {
		t.Fatalf("publish over the bad version: %v\n%s", err, out)
	}
	f.waitScopes(t, 24, time.Second)

	// Redis back empty: the nodes put version 3 back.
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	doc := waitRedis(t, store, cidrdbKind, 3, 15*time.Second)
	if fine, _ := os.ReadFile(f.fine); !bytes.Equal(doc.Body, fine) {
		t.Errorf("restored CIDRDB is not version 3's file")
	}
}

// `probe -publish` publishes the CIDRDB it learnt, the same way; without a fleet it is a usage error.
func TestProbePublish(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	w, servers := startWorld(t, 1)
	dir := t.TempDir()
	cfg := writeTestConfig(t, w, dir, addrsOf(servers), "fleet: {redis: ["+quoteList([]string{srv.Addr})+"]}\n")
	domains := filepath.Join(dir, "probe-domains.txt")
	if err := os.WriteFile(domains, []byte("img.cdn-a.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "learnt.mmdb")
	var stdout, stderr bytes.Buffer
	args := []string{"probe", "-config", cfg, "-domains", domains, "-out", out, "-rate", "-1", "-publish"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("probe -publish: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "published "+out+" to the fleet as cidrdb version 1") {
		t.Errorf("probe -publish output lacks the version:\n%s", stdout.String())
	}
	_, store := redisStore(t, srv.Addr)
	doc, err := store.Get(t.Context(), cidrdbKind)
	learnt, _ := os.ReadFile(out)
	if err != nil || !bytes.Equal(doc.Body, learnt) || !strings.HasPrefix(doc.Who, "cli@") {
		t.Errorf("Redis holds %d bytes by %q, %v; want the learnt file", len(doc.Body), doc.Who, err)
	}

	// The same file again is no new version: every node would reload it for nothing.
	stdout.Reset()
	if err := run(context.Background(), []string{"cidrdb", "publish", out, "-config", cfg}, &stdout, &stderr); err != nil {
		t.Fatalf("publishing the same file again: %v", err)
	}
	if v, err := store.Version(t.Context(), cidrdbKind); err != nil || v != 1 || !strings.Contains(stdout.String(), "version 1 already") {
		t.Errorf("the same file published again: Redis holds version %d (%v), said %q; want version 1 kept", v, err, stdout.String())
	}

	plain := writeTestConfig(t, w, t.TempDir(), addrsOf(servers), "")
	args = []string{"probe", "-config", plain, "-domains", domains, "-out", out, "-publish"}
	if err := run(context.Background(), args, &stdout, &stderr); err == nil {
		t.Error("probe -publish without a fleet section succeeded")
	}
}

// `cidrdb publish` wants one FILE and -config, in either order, and a config with a fleet section.
func TestCIDRDBPublishUsage(t *testing.T) {
	t.Parallel()
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeTestConfig(t, w, t.TempDir(), []string{"127.0.0.1:53"}, "")
	for _, args := range [][]string{
		{"cidrdb", "publish", "-config", cfg},
		{"cidrdb", "publish", "x.mmdb"},
		{"cidrdb", "publish", "x.mmdb", "y.mmdb", "-config", cfg},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"cidrdb", "publish", "-config", cfg, "x.mmdb"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "no fleet section") {
		t.Errorf("publish with a config without a fleet: %v", err)
	}
}

// writeState writes a kind's local copy and its state file naming version, as a node that applied that
// version of the fleet's leaves them.
func writeState(t *testing.T, dir, name string, body []byte, version int64) {
	t.Helper()
	st := fmt.Sprintf(`{"version":%d,"sha256":%q,"who":"earlier","when":"2026-12-01T00:00:00Z"}`, version, fleet.Sum(body))
	if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".fleet"), []byte(st), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Two nodes start with Redis down, each with local copies of a different version of each document: they
// serve their own, and an accounts upload gets 503. Redis comes up empty: for every kind the higher
// version of the two is restored into it, whichever node holds it, and the other node takes it.
func TestServeFleetRestoreHighestWins(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	srv.Stop()
	f := &cidrdbFleet{}
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	f.world = w
	tmp := startCIDRDBFiles(t, f)
	fine, _ := os.ReadFile(f.fine)
	coarse, _ := os.ReadFile(f.coarse)
	upstream := cdnsim.StartTest(t, w)
	extra := fmt.Sprintf("fleet: {redis: [%q], sync_interval: 1h}\ncidrdb: cidrdb.mmdb\ncidrdb_watch: 0s\n", srv.Addr)
	const wlA, wlB = "*.cdn-b.test subnet\n", "*.cdn-b.test subnet\nimg.cdn-a.test global\n"
	accA := []byte(`{"accounts":[{"id":"a1"}]}`)
	var nodes []*testService
	for i, v := range []struct {
		wl       string
		wlV      int64
		acc      []byte
		accV     int64
		db       []byte
		dbV      int64
		accounts string
	}{
		{wlA, 5, accA, 2, coarse, 3, "[a1]"},
		{wlB, 7, nil, 0, fine, 2, "[]"},
	} {
		dir := filepath.Join(tmp, fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeState(t, dir, "domains.txt", []byte(v.wl), v.wlV)
		writeState(t, dir, "cidrdb.mmdb", v.db, v.dbV)
		if v.acc != nil {
			writeState(t, dir, "accounts.json", v.acc, v.accV)
		}
		n := startService(t, w, writeTestConfig(t, w, dir, []string{upstream.Addr()}, extra))
		if _, got := adminText(t, n.admin+"/admin/domains"); got != v.wl {
			t.Errorf("node %d with Redis down serves whitelist %q, want its own %q", i, got, v.wl)
		}
		if ids := fmt.Sprint(accountIDs(t, n)); ids != v.accounts {
			t.Errorf("node %d with Redis down serves accounts %s, want %s", i, ids, v.accounts)
		}
		nodes = append(nodes, n)
	}
	f.nodes = nodes[:1]
	f.waitScopes(t, f.alloc.Bits(), 0)
	f.nodes = nodes[1:]
	f.waitScopes(t, 24, 0)
	if code, body := put(t, nodes[1].admin+"/admin/accounts", "secret", `{"accounts":[{"id":"b1"}]}`); code != 503 || body["code"] != "FleetUnavailable" {
		t.Errorf("accounts upload with Redis down: %d %v, want 503 FleetUnavailable", code, body)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	_, store := redisStore(t, srv.Addr)
	waitRedis(t, store, whitelistKind, 7, 15*time.Second)
	waitRedis(t, store, accountsKind, 2, 15*time.Second)
	waitRedis(t, store, cidrdbKind, 3, 15*time.Second)
	// The restore is announced: each node takes the versions it lacked. (Generous bounds: the
	// notification is usually there within milliseconds, but this runs beside the whole suite.)
	waitWhitelist(t, nodes[0], wlB, 10*time.Second)
	waitUntil(t, 10*time.Second, "node 1 lacks account a1", func() bool { return fmt.Sprint(accountIDs(t, nodes[1])) == "[a1]" })
	f.nodes = nodes
	f.waitScopes(t, f.alloc.Bits(), 10*time.Second)
}

// A CIDRDB that passes its checks but cannot be loaded with the geo databases now on disk (one went bad
// since start) is not swapped in, and the node's cidrdb file is put back to the one that serves.
func TestFleetCIDRDBApplyKeepsServingFile(t *testing.T) {
	t.Parallel()
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	f := &cidrdbFleet{world: w}
	dir := startCIDRDBFiles(t, f)
	city, isp, err := w.WriteGeoDBs(dir)
	if err != nil {
		t.Fatal(err)
	}
	live, err := cidrdb.NewLive(cidrdb.Config{CityPath: city, ISPPath: isp, CIDRDBPath: f.fine}, cidrdb.LiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	kind := &fleetCIDRDB{live: live, path: f.fine}
	fine, _ := os.ReadFile(f.fine)
	coarse, _ := os.ReadFile(f.coarse)
	blocks := live.Current().Blocks()
	if err := kind.validate(coarse); err != nil {
		t.Fatalf("the coarse CIDRDB does not validate: %v", err)
	}
	if err := kind.validate([]byte("not an mmdb")); err == nil {
		t.Fatal("garbage validates")
	}
	if err := os.WriteFile(city, []byte("broken"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := kind.apply(coarse); err == nil {
		t.Fatal("apply with a broken city database succeeded")
	}
	if got, _ := os.ReadFile(f.fine); !bytes.Equal(got, fine) {
		t.Error("the cidrdb file is not the serving one after a failed apply")
	}
	if got := live.Current().Blocks(); got != blocks {
		t.Errorf("serving %d blocks after a failed apply, want the old %d", got, blocks)
	}
}
