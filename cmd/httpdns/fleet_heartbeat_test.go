package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// A node that starts while Redis holds a newer whitelist than its own files sends its first heartbeat
// only after reading Redis: the heartbeat names the version it applied. Before, the first heartbeat
// raced the first sync and usually said version 0, so /admin/fleet showed the node out of sync for a
// whole heartbeat interval after every start.
func TestServeFleetFirstHeartbeatAfterSync(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	handWrite(t, rdb, 3, "img.cdn-a.test global\n", false)

	w, servers := startWorld(t, 1)
	// sync_interval 5s: a second heartbeat would come too late to hide a wrong first one.
	extra := fmt.Sprintf("fleet: {redis: [%q], node_id: first, sync_interval: 5s}\n", srv.Addr)
	startService(t, w, writeTestConfig(t, w, t.TempDir(), addrsOf(servers), extra))

	var hb fleet.Heartbeat
	waitUntil(t, 5*time.Second, "no heartbeat from node first", func() bool {
		b, err := rdb.Get(context.Background(), "httpdns:node:first").Bytes()
		return err == nil && json.Unmarshal(b, &hb) == nil
	})
	found := false
	for _, d := range hb.Docs {
		if d.Kind == whitelistKind {
			found = true
			if d.Version != 3 || d.LastSync.IsZero() {
				t.Errorf("first heartbeat: whitelist version %d, last sync %v; want version 3, synced", d.Version, d.LastSync)
			}
		}
	}
	if !found {
		t.Errorf("first heartbeat names no whitelist: %+v", hb.Docs)
	}
}
