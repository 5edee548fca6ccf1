package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/httpdns/httpdns/api"
	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/redistest"
)

// memKind is a document kind held in memory: a body starting with "bad" does not validate.
type memKind struct {
	mu      sync.Mutex
	body    []byte
	applied int
}

func (m *memKind) validate(body []byte) error {
	if strings.HasPrefix(string(body), "bad") {
		return errors.New("a bad body")
	}
	return nil
}

func (m *memKind) apply(body []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.body, m.applied = append([]byte(nil), body...), m.applied+1
	return nil
}

func (m *memKind) local() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.body, nil
}

// newTestFleetNode returns a fleet node on the Redis at addr following one memKind of kind "accounts".
func newTestFleetNode(t *testing.T, addr string) (*fleetNode, *fleetDoc, *memKind, *fleetMetrics, *fleet.Store) {
	t.Helper()
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	store, err := fleet.New(rdb, fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := newFleetMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	n := newFleetNode(store, "node-a", time.Hour, slog.New(slog.DiscardHandler), m)
	k := &memKind{}
	d, err := n.add(accountsKind, k, filepath.Join(t.TempDir(), "doc.fleet"))
	if err != nil {
		t.Fatal(err)
	}
	return n, d, k, m, store
}

// Status reports the version served, who wrote it, the last good sync and the last error; a version
// refused once is not checked (nor counted) again on the next syncs.
func TestFleetDocStatus(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	n, d, k, m, store := newTestFleetNode(t, srv.Addr)
	ctx := t.Context()
	if st := n.Status(); len(st) != 1 || st[0].Kind != accountsKind || st[0].Version != 0 || !st[0].LastSync.IsZero() {
		t.Fatalf("status before any sync: %+v", st)
	}
	if _, err := store.Put(ctx, accountsKind, []byte("good 1"), "admin@x", 0); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	d.sync(ctx)
	st := n.Status()[0]
	if st.Version != 1 || st.Who != "admin@x" || st.SHA256 != fleet.Sum([]byte("good 1")) || st.LastSync.Before(before) || st.LastError != "" {
		t.Errorf("status after applying version 1: %+v", st)
	}
	if string(k.body) != "good 1" {
		t.Errorf("kind holds %q, want version 1's body", k.body)
	}

	if _, err := store.Put(ctx, accountsKind, []byte("bad 2"), "admin@y", 1); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		d.sync(ctx)
	}
	st = n.Status()[0]
	if st.Version != 1 || !strings.Contains(st.LastError, "version 2 refused") || string(k.body) != "good 1" {
		t.Errorf("status after a bad version 2: %+v, kind holds %q", st, k.body)
	}
	if got := testutil.ToFloat64(m.syncs.WithLabelValues(accountsKind, "rejected")); got != 1 {
		t.Errorf("rejected syncs = %v after three syncs of one bad version, want 1", got)
	}
	// An upload goes on top of the refused version and clears the error.
	if _, err := d.publish([]byte("good 3"), "node-a"); err != nil {
		t.Fatal(err)
	}
	if st = n.Status()[0]; st.Version != 3 || st.Who != "node-a" {
		t.Errorf("status after an upload over the bad version: %+v", st)
	}
	d.sync(ctx)
	if st = n.Status()[0]; st.LastError != "" || k.applied != 2 {
		t.Errorf("status after a sync of the current version: %+v, applied %d times, want 2", st, k.applied)
	}

	srv.Stop()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d.sync(cctx)
	if st = n.Status()[0]; st.Version != 3 || st.LastError == "" {
		t.Errorf("status with Redis down: %+v, want version 3 and an error", st)
	}
	if got := testutil.ToFloat64(m.version.WithLabelValues(accountsKind)); got != 3 {
		t.Errorf("httpdns_fleet_version{kind=accounts} = %v, want 3", got)
	}
}

// A node that refused a version, then lost Redis, reports that refusal again once Redis is back and
// still holds the version: not the outage, which is over, and it no longer retries as if Redis were
// down. Before, the version refused already ended the sync before its outcome was kept, so the
// outage's error stayed in /admin/fleet and the heartbeats until the next version.
func TestFleetDocRejectedAfterOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	n, d, _, m, store := newTestFleetNode(t, srv.Addr)
	ctx := t.Context()
	if _, err := store.Put(ctx, accountsKind, []byte("good 1"), "admin@x", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, accountsKind, []byte("bad 2"), "admin@y", 1); err != nil {
		t.Fatal(err)
	}
	d.sync(ctx)
	if st := n.Status()[0]; st.Version != 0 || !strings.Contains(st.LastError, "version 2 refused") {
		t.Fatalf("status after a bad version 2: %+v", st)
	}

	srv.Stop()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d.sync(cctx)
	if st := n.Status()[0]; strings.Contains(st.LastError, "refused") || !d.failing() {
		t.Fatalf("status with Redis down: %+v, failing %v; want the outage", st, d.failing())
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	rdb := fleet.NewClient([]string{srv.Addr}, "")
	t.Cleanup(func() { rdb.Close() })
	handWriteDoc(t, rdb, accountsKind, 2, []byte("bad 2"), false)
	d.sync(ctx)
	if st := n.Status()[0]; !strings.Contains(st.LastError, "version 2 refused") || d.failing() {
		t.Errorf("status with Redis back, holding the refused version: %+v, failing %v; want the refusal, not failing", st, d.failing())
	}
	if got := testutil.ToFloat64(m.syncs.WithLabelValues(accountsKind, "rejected")); got != 1 {
		t.Errorf("rejected syncs = %v, want 1: a version refused once is counted once", got)
	}
}

// Five nodes that all hold version 0 upload at once: exactly one upload is accepted, the other four get
// a VersionConflictError naming version 1, and none of them changes its document.
func TestFleetDocConcurrentPublishOneWins(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	docs := make([]*fleetDoc, 5)
	kinds := make([]*memKind, 5)
	for i := range docs {
		_, docs[i], kinds[i], _, _ = newTestFleetNode(t, srv.Addr)
	}
	errs := make([]error, len(docs))
	var wg sync.WaitGroup
	for i, d := range docs {
		wg.Go(func() { _, errs[i] = d.publish([]byte(fmt.Sprintf("upload %d", i)), fmt.Sprint("node-", i)) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		var vce *api.VersionConflictError
		switch {
		case err == nil:
			won++
			if string(kinds[i].body) != fmt.Sprintf("upload %d", i) {
				t.Errorf("the winner holds %q", kinds[i].body)
			}
		case errors.As(err, &vce) && vce.Current == 1 && vce.Kind == accountsKind:
			if kinds[i].body != nil {
				t.Errorf("node %d lost but holds %q", i, kinds[i].body)
			}
		default:
			t.Errorf("node %d: %v, want nil or a conflict naming version 1", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d uploads accepted, want exactly 1", won)
	}
}
