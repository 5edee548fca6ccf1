package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/redistest"
)

// accountIDs lists the account ids a node's GET /admin/accounts shows.
func accountIDs(t *testing.T, s *testService) []string {
	t.Helper()
	_, body := adminText(t, s.admin+"/admin/accounts")
	var doc struct {
		Accounts []struct {
			ID string `json:"id"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("GET /admin/accounts: %v: %s", err, body)
	}
	var ids []string
	for _, a := range doc.Accounts {
		ids = append(ids, a.ID)
	}
	return ids
}

// Three nodes: an accounts upload on A reaches B and C within 1 s (the Alibaba door on C knows the new
// account); a masked secret over a node's own config accounts is refused, so that node's {file:} secret
// is never published; a bad accounts document written into Redis by hand is refused by every node,
// which keep the accounts they had; Redis restarted empty gets the accounts back.
func TestServeFleetAccounts(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	_, nodes := startFleet(t, 3, []string{srv.Addr}, "accounts: [{id: \"100000\", alibaba: {secret: {file: ali.secret}}}]\n",
		map[string][]byte{"ali.secret": []byte("only-on-this-node\n")})
	a, b, c := nodes[0], nodes[1], nodes[2]
	rdb, store := redisStore(t, srv.Addr)

	code, body := put(t, a.admin+"/admin/accounts", "secret", `{"accounts":[{"id":"100000","alibaba":{"secret":"********"}}]}`)
	if code != 400 || body["code"] != "InvalidAccounts" {
		t.Errorf("masked upload over the config's accounts: %d %v, want 400 InvalidAccounts", code, body)
	}
	if n, _ := rdb.Exists(t.Context(), "httpdns:doc:accounts").Result(); n != 0 {
		t.Errorf("Redis holds an accounts document after a refused upload")
	}

	if code, body := get(t, c.public+"/200000/d?host=img.cdn-a.test"); code != 403 || body["code"] != "InvalidAccount" {
		t.Errorf("C before the upload: /200000/d %d %v, want 403 InvalidAccount", code, body)
	}
	v1 := `{"accounts":[{"id":"100000","alibaba":{"secret":"aa11"}},{"id":"200000","alibaba":{"secret":"bb22"}}]}`
	start := time.Now()
	if code, body := put(t, a.admin+"/admin/accounts", "secret", v1); code != 200 {
		t.Fatalf("upload on A: %d %v", code, body)
	}
	for _, n := range []*testService{b, c} {
		waitUntil(t, time.Second-time.Since(start), "node "+n.admin+" lacks account 200000", func() bool {
			return fmt.Sprint(accountIDs(t, n)) == "[100000 200000]"
		})
	}
	t.Logf("the upload on A reached B and C in %v", time.Since(start).Round(time.Millisecond))
	if code, body := get(t, c.public+"/200000/d?host=img.cdn-a.test"); code != 200 {
		t.Errorf("C after the upload: /200000/d %d %v, want 200", code, body)
	}
	doc := waitRedis(t, store, accountsKind, 1, time.Second)
	if strings.Contains(string(doc.Body), "only-on-this-node") {
		t.Errorf("the shared document holds a node's env secret: %s", doc.Body)
	}
	for _, n := range nodes {
		// The state file is written just after the accounts are swapped in.
		waitUntil(t, time.Second, "node "+n.admin+" has no state file naming version 1", func() bool {
			st, err := os.ReadFile(filepath.Join(n.dir, "accounts.json.fleet"))
			return err == nil && strings.Contains(string(st), `"version":1`)
		})
		if got, _ := os.ReadFile(filepath.Join(n.dir, "accounts.json")); string(got) != string(doc.Body) {
			t.Errorf("node %s: accounts.json %q, want the fleet's document", n.admin, got)
		}
	}
	// Now a mask keeps the fleet's value, which Redis already holds.
	code, body = put(t, b.admin+"/admin/accounts", "secret",
		`{"accounts":[{"id":"100000","alibaba":{"secret":"********"}},{"id":"200000","alibaba":{"secret":"********","signed_only":true}}]}`)
	if code != 200 {
		t.Fatalf("masked upload on B over the fleet's accounts: %d %v", code, body)
	}
	waitUntil(t, time.Second, "A does not apply version 2", func() bool {
		code, body := get(t, a.public+"/200000/d?host=img.cdn-a.test")
		return code == 403 && body["code"] == "UnsignedInterfaceDisabled"
	})

	// Duplicate ids: a bad document, refused by every node.
	handWriteDoc(t, rdb, accountsKind, 3, []byte(`{"accounts":[{"id":"x"},{"id":"x"}]}`), true)
	for _, n := range nodes {
		waitUntil(t, 2*time.Second, "node "+n.admin+" does not count the bad accounts as rejected", func() bool {
			return metricLine(t, n, `httpdns_fleet_syncs_total{kind="accounts",result="rejected"} 1`)
		})
		if ids := fmt.Sprint(accountIDs(t, n)); ids != "[100000 200000]" || !metricLine(t, n, `httpdns_fleet_version{kind="accounts"} 2`) {
			t.Errorf("node %s after a bad document: accounts %s, want version 2's kept", n.admin, ids)
		}
	}

	// Redis back empty: the nodes put version 2 back.
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	doc = waitRedis(t, store, accountsKind, 2, 15*time.Second)
	if !strings.Contains(string(doc.Body), `"signed_only": true`) {
		t.Errorf("restored accounts %s, want version 2", doc.Body)
	}
}

// Three nodes upload accounts at once, on the version they all hold: every upload gets 200 or 409,
// the fleet's version counts exactly the 200s, at least one upload is refused, and all three nodes end
// with the fleet's document.
func TestServeFleetAccountsConcurrentUploads(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	_, nodes := startFleet(t, 3, []string{srv.Addr}, "", nil)
	_, store := redisStore(t, srv.Addr)
	ok, conflicts := 0, 0
	for round := range 5 {
		codes := make([]int, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			body := fmt.Sprintf(`{"accounts":[{"id":"n%d-r%d"}]}`, i, round)
			wg.Go(func() { codes[i] = putStatus(n.admin+"/admin/accounts", body) })
		}
		wg.Wait()
		for _, c := range codes {
			switch c {
			case 200:
				ok++
			case 409:
				conflicts++
			default:
				t.Fatalf("round %d: codes %v, want 200 or 409", round, codes)
			}
		}
		doc := waitRedis(t, store, accountsKind, int64(ok), time.Second)
		var want struct {
			Accounts []struct {
				ID string `json:"id"`
			} `json:"accounts"`
		}
		if err := json.Unmarshal(doc.Body, &want); err != nil || len(want.Accounts) != 1 {
			t.Fatalf("fleet document %s: %v", doc.Body, err)
		}
		for _, n := range nodes {
			waitUntil(t, time.Second, "node "+n.admin+" lacks the fleet's accounts", func() bool {
				return fmt.Sprint(accountIDs(t, n)) == "["+want.Accounts[0].ID+"]"
			})
		}
	}
	t.Logf("%d uploads accepted, %d refused with 409", ok, conflicts)
	if conflicts == 0 {
		t.Errorf("15 uploads in 5 rounds of three at once, none refused")
	}
}

// putStatus PUTs body with the test token and returns the status (0: no answer).
func putStatus(url, body string) int {
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
