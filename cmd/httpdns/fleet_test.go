package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/internal/redistest"
)

// adminText GETs an admin path with the test token and returns the status and body.
func adminText(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// waitWhitelist polls GET /admin/domains on a node until it serves want.
func waitWhitelist(t *testing.T, s *testService, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, got := adminText(t, s.admin+"/admin/domains")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s serves whitelist %q after %v, want %q", s.admin, got, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// handWrite stores a whitelist document straight into Redis, as something other than a node would: valid
// checksum, no notification unless publish.
func handWrite(t *testing.T, rdb redis.UniversalClient, version int64, body string, publish bool) {
	t.Helper()
	handWriteDoc(t, rdb, whitelistKind, version, []byte(body), publish)
}

// handWriteDoc is handWrite for any kind of document.
func handWriteDoc(t *testing.T, rdb redis.UniversalClient, kind string, version int64, body []byte, publish bool) {
	t.Helper()
	ctx := context.Background()
	err := rdb.HSet(ctx, "httpdns:doc:"+kind, "version", version, "sha256", fleet.Sum(body),
		"who", "by hand", "when", time.Now().UTC().Format(time.RFC3339Nano), "body", body).Err()
	if err != nil {
		t.Fatal(err)
	}
	if publish {
		msg := fmt.Sprintf(`{"kind":%q,"version":%d}`, kind, version)
		if err := rdb.Publish(ctx, "httpdns:events", msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// startFleet starts n serve nodes of one fleet on the Redis at addrs (one: a single Redis; several: a
// cluster), each in its own directory holding files (name: content) with the given extra config,
// sync_interval 1h: only notifications, (re)subscriptions and conflicts make a node sync.
func startFleet(t *testing.T, n int, addrs []string, extra string, files map[string][]byte) (*cdnsim.World, []*testService) {
	t.Helper()
	w, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return startFleetIn(t, w, n, addrs, extra, files)
}

// startFleetIn is startFleet in the world w, with one upstream of its own.
func startFleetIn(t *testing.T, w *cdnsim.World, n int, addrs []string, extra string, files map[string][]byte) (*cdnsim.World, []*testService) {
	t.Helper()
	servers := []*cdnsim.Server{cdnsim.StartTest(t, w)}
	extra = fmt.Sprintf("fleet: {redis: [%s], sync_interval: 1h}\n%s", quoteList(addrs), extra)
	var nodes []*testService
	for range n {
		dir := t.TempDir()
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		nodes = append(nodes, startService(t, w, writeTestConfig(t, w, dir, addrsOf(servers), extra)))
	}
	return w, nodes
}

// waitUntil polls cond every 20 ms until it holds or within has passed, then fails with what.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisStore is a client of the Redis at addr, closed when the test ends, and a fleet.Store on it with
// the nodes' default key prefix: to read what the fleet wrote there, or write behind its back.
func redisStore(t *testing.T, addr string) (*redis.Client, *fleet.Store) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	store, err := fleet.New(rdb, fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return rdb, store
}

// waitRedis waits until the fleet in Redis holds version of kind.
func waitRedis(t *testing.T, store *fleet.Store, kind string, version int64, within time.Duration) fleet.Document {
	t.Helper()
	var doc fleet.Document
	waitUntil(t, within, fmt.Sprintf("Redis does not hold %s version %d", kind, version), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		doc, err = store.Get(ctx, kind)
		return err == nil && doc.Version == version
	})
	return doc
}

// metricLine reports whether a node's /metrics has the exact sample line.
func metricLine(t *testing.T, s *testService, line string) bool {
	t.Helper()
	_, m := adminText(t, s.admin+"/metrics")
	return strings.Contains(m, line+"\n")
}

// Two serve nodes on one real Redis: an upload on A reaches B; an upload on a node that missed a change
// gets 409 naming the current version and changes nothing; a bad whitelist in Redis is refused and the
// next upload replaces it; with Redis down both nodes serve and an upload gets 503; Redis back empty gets
// the highest version back from the nodes' copies.
func TestServeFleetWhitelist(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	w, servers := startWorld(t, 1)
	// A long sync interval: only notifications, (re)subscriptions and conflicts make a node sync here.
	extra := fmt.Sprintf("fleet: {redis: [%q], sync_interval: 1h}\n", srv.Addr)
	var nodes []*testService
	for range 2 {
		dir := t.TempDir()
		nodes = append(nodes, startService(t, w, writeTestConfig(t, w, dir, addrsOf(servers), extra)))
	}
	a, b := nodes[0], nodes[1]
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })

	const v1 = "img.cdn-a.test subnet\n"
	if code, body := put(t, a.admin+"/admin/domains", "secret", v1); code != 200 {
		t.Fatalf("upload on A: %d %v", code, body)
	}
	waitWhitelist(t, b, v1, 2*time.Second)

	// B misses a change (written without a notification) and uploads on the version it has.
	const v2 = "img.cdn-a.test global\n"
	handWrite(t, rdb, 2, v2, false)
	code, body := put(t, b.admin+"/admin/domains", "secret", "img.cdn-a.test cityisp\n")
	if code != 409 || body["code"] != "VersionConflict" || !strings.Contains(fmt.Sprint(body["message"]), "version is 2") {
		t.Errorf("stale upload on B: %d %v, want 409 VersionConflict naming version 2", code, body)
	}
	// The conflict made B catch up; nothing it uploaded got in.
	waitWhitelist(t, b, v2, 2*time.Second)
	// The state file is written just after the whitelist is swapped in.
	waitUntil(t, time.Second, "B's state file does not name version 2", func() bool {
		st, err := os.ReadFile(filepath.Join(b.dir, "domains.txt.fleet"))
		var state fleetState
		return err == nil && json.Unmarshal(st, &state) == nil && state.Version == 2
	})
	if got, _ := os.ReadFile(filepath.Join(b.dir, "domains.txt")); string(got) != v2 {
		t.Errorf("B's domains.txt = %q, want %q", got, v2)
	}

	// A bad whitelist put into Redis by hand is refused by both nodes; an upload then replaces it.
	handWrite(t, rdb, 3, "this is not a whitelist\n", true)
	// The notification is read and refused in a few ms. A never saw v2: it was not announced.
	time.Sleep(300 * time.Millisecond)
	for n, want := range map[*testService]string{a: v1, b: v2} {
		if _, got := adminText(t, n.admin+"/admin/domains"); got != want {
			t.Errorf("node %s serves %q after a bad whitelist was announced, want its own %q", n.admin, got, want)
		}
	}
	// A read and refused version 3, so its upload is put on top of it rather than refused as stale.
	const v4 = "img.cdn-a.test subnet\nvideo.cdn-b.test global\n"
	if code, body := put(t, a.admin+"/admin/domains", "secret", v4); code != 200 {
		t.Fatalf("upload over the bad whitelist: %d %v", code, body)
	}
	waitWhitelist(t, b, v4, 2*time.Second)

	_, metrics := adminText(t, b.admin+"/metrics")
	for _, want := range []string{`httpdns_fleet_version{kind="whitelist"} 4` + "\n",
		`httpdns_fleet_syncs_total{kind="whitelist",result="rejected"} 1` + "\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("B's /metrics lacks %q", want)
		}
	}

	// Redis down: both nodes serve with their whitelist, an upload gets 503 and changes nothing.
	srv.Stop()
	code, body = put(t, a.admin+"/admin/domains", "secret", "img.cdn-a.test global\n")
	if code != 503 || body["code"] != "FleetUnavailable" {
		t.Errorf("upload with Redis down: %d %v, want 503 FleetUnavailable", code, body)
	}
	c := w.ClientIn(w.Subnets()[0], 1)
	for _, n := range nodes {
		if _, got := adminText(t, n.admin+"/admin/domains"); got != v4 {
			t.Errorf("node %s with Redis down serves %q, want %q", n.admin, got, v4)
		}
		if code, body := get(t, n.public+"/d?host=img.cdn-a.test&ip="+c.String()); code != 200 {
			t.Errorf("node %s with Redis down: /d %d %v", n.public, code, body)
		}
	}

	// Redis back empty: the nodes put their copy back, version 4.
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	store, err := fleet.New(rdb, fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		doc, err := store.Get(ctx, whitelistKind)
		cancel()
		if err == nil && doc.Version == 4 && string(doc.Body) == v4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis restarted empty holds %+v, %v after 15 s, want version 4 restored", doc, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Uploads on two nodes at once are never lost silently: each gets 200 or 409, the fleet's version counts
// exactly the 200s, and both nodes end with the same whitelist, the last one accepted.
func TestServeFleetConcurrentUploads(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	w, servers := startWorld(t, 1)
	extra := fmt.Sprintf("fleet: {redis: [%q], sync_interval: 1h}\n", srv.Addr)
	a := startService(t, w, writeTestConfig(t, w, t.TempDir(), addrsOf(servers), extra))
	b := startService(t, w, writeTestConfig(t, w, t.TempDir(), addrsOf(servers), extra))
	_, store := redisStore(t, srv.Addr)
	ok, conflicts := 0, 0
	for round := range 10 {
		codes := make(chan int, 2)
		for i, n := range []*testService{a, b} {
			body := fmt.Sprintf("img.cdn-a.test subnet\nn%d-r%d.test global\n", i, round)
			go func() { codes <- putStatus(n.admin+"/admin/domains", body) }()
		}
		for range 2 {
			switch c := <-codes; c {
			case 200:
				ok++
			case 409:
				conflicts++
			default:
				t.Fatalf("round %d: an upload got %d, want 200 or 409", round, c)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	doc, err := store.Get(ctx, whitelistKind)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Version != int64(ok) {
		t.Errorf("%d uploads accepted, %d refused, but the fleet is at version %d", ok, conflicts, doc.Version)
	}
	t.Logf("%d accepted, %d refused with 409", ok, conflicts)
	waitWhitelist(t, a, string(doc.Body), 2*time.Second)
	waitWhitelist(t, b, string(doc.Body), 2*time.Second)
}

// A node whose Redis is down at start serves the whitelist it saved, and an upload gets 503.
func TestServeFleetStartsWithRedisDown(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	addr := srv.Addr
	srv.Stop()
	w, servers := startWorld(t, 1)
	dir := t.TempDir()
	const saved = "img.cdn-a.test subnet\n"
	if err := os.WriteFile(filepath.Join(dir, "domains.txt"), []byte(saved), 0o644); err != nil {
		t.Fatal(err)
	}
	st := fmt.Sprintf(`{"version":5,"sha256":%q,"who":"n1","when":"2026-01-02T03:04:05Z"}`, fleet.Sum([]byte(saved)))
	if err := os.WriteFile(filepath.Join(dir, "domains.txt.fleet"), []byte(st), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startService(t, w, writeTestConfig(t, w, dir, addrsOf(servers), fmt.Sprintf("fleet: {redis: [%q]}\n", addr)))
	if _, got := adminText(t, s.admin+"/admin/domains"); got != saved {
		t.Errorf("serves %q, want the saved %q", got, saved)
	}
	c := w.ClientIn(w.Subnets()[0], 1)
	if code, body := get(t, s.public+"/d?host=img.cdn-a.test&ip="+c.String()); code != 200 {
		t.Errorf("/d with Redis down: %d %v", code, body)
	}
	if code, body := put(t, s.admin+"/admin/domains", "secret", "img.cdn-a.test global\n"); code != 503 || body["code"] != "FleetUnavailable" {
		t.Errorf("upload with Redis down: %d %v, want 503 FleetUnavailable", code, body)
	}
	if _, got := adminText(t, s.admin+"/admin/domains"); got != saved {
		t.Errorf("after a refused upload serves %q, want %q", got, saved)
	}
}

// On a 3-master Redis Cluster the nodes share documents the same: a whitelist upload on A and an
// accounts upload on B reach the other node, and a CIDRDB published by the CLI reaches all three.
func TestServeFleetCluster(t *testing.T) {
	t.Parallel()
	addrs := redistest.StartCluster(t)
	f := startCIDRDBFleet(t, addrs)
	a, b := f.nodes[0], f.nodes[1]
	const wl = "*.cdn-b.test subnet\nimg.cdn-a.test global\n"
	if code, body := put(t, a.admin+"/admin/domains", "secret", wl); code != 200 {
		t.Fatalf("whitelist upload on A: %d %v", code, body)
	}
	waitWhitelist(t, b, wl, time.Second)
	if code, body := put(t, b.admin+"/admin/accounts", "secret", `{"accounts":[{"id":"300000"}]}`); code != 200 {
		t.Fatalf("accounts upload on B: %d %v", code, body)
	}
	waitUntil(t, time.Second, "A lacks account 300000", func() bool { return fmt.Sprint(accountIDs(t, a)) == "[300000]" })
	if out, err := publishFile(t, f.coarse, filepath.Join(a.dir, "httpdns.yaml")); err != nil {
		t.Fatalf("publish to the cluster: %v\n%s", err, out)
	}
	f.waitScopes(t, f.alloc.Bits(), time.Second)
}

// A notification at the version a node already serves (anyone who reaches Redis can publish one) costs
// the node one read of the version, not a read of the whole document: the CIDRDB may be many MB.
func TestServeFleetNotificationAtCurrentVersionIsCheap(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	_, nodes := startFleet(t, 1, []string{addr}, "", nil)
	const wl = "*.cdn-b.test subnet\n"
	if code, body := put(t, nodes[0].admin+"/admin/domains", "secret", wl); code != http.StatusOK {
		t.Fatalf("upload: %d %v", code, body)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	// calls returns how many times Redis ran a command (INFO commandstats).
	calls := func(cmd string) int {
		info, err := rdb.Info(ctx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(info, "\n") {
			if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
				var n int
				fmt.Sscanf(rest, "%d", &n)
				return n
			}
		}
		return 0
	}
	// syncs returns how many syncs found the whitelist current.
	syncs := func() int {
		_, text := adminText(t, nodes[0].admin+"/metrics")
		for line := range strings.SplitSeq(text, "\n") {
			if rest, ok := strings.CutPrefix(line, `httpdns_fleet_syncs_total{kind="whitelist",result="current"} `); ok {
				var n int
				fmt.Sscanf(rest, "%d", &n)
				return n
			}
		}
		return 0
	}
	before, scripts := syncs(), calls("evalsha")+calls("eval")
	const flood = 40
	for range flood {
		if err := rdb.Publish(ctx, "httpdns:events", `{"kind":"whitelist","version":1}`).Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitUntil(t, 5*time.Second, "the node did not sync on the notifications", func() bool {
		return syncs()-before >= flood/4
	})
	// The heartbeat runs a script now and then; a full read per notification would be 40.
	if n := calls("evalsha") + calls("eval") - scripts; n > flood/4 {
		t.Errorf("%d notifications at the current version made %d script runs (full document reads); want a few at most", flood, n)
	}
	waitWhitelist(t, nodes[0], wl, time.Second)
}
