package fleet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/redistest"
)

type change struct {
	kind    string
	version int64
}

// startWatch runs s.Watch until the test ends and returns its subscriptions and notifications.
func startWatch(t *testing.T, s *fleet.Store) (subscribed <-chan struct{}, changes <-chan change) {
	t.Helper()
	sub := make(chan struct{}, 16)
	ch := make(chan change, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Watch(ctx, func() { sub <- struct{}{} }, func(k string, v int64) { ch <- change{k, v} })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Watch returned %v after cancel, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after its context was cancelled")
		}
	})
	return sub, ch
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Second):
		t.Fatalf("no %s within 1s", what)
		panic("unreachable")
	}
}

// A Put through one node's client reaches a node watching through another, within a second; so does a Restore.
func TestWatchSeesPutFromAnotherClient(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	watcher, writer := newStore(t, addr, fleet.Config{}), newStore(t, addr, fleet.Config{})
	other := newStore(t, addr, fleet.Config{Prefix: "other:"})
	sub, changes := startWatch(t, watcher)
	waitFor(t, sub, "subscription")

	ctx := ctxTimeout(t, 5*time.Second)
	// Another fleet sharing the Redis under another prefix is not heard.
	if _, err := other.Put(ctx, "whitelist", []byte("theirs"), "x", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Put(ctx, "whitelist", []byte("a.test\n"), "admin", 0); err != nil {
		t.Fatal(err)
	}
	if got := waitFor(t, changes, "notification"); got != (change{"whitelist", 1}) {
		t.Fatalf("notification %+v, want whitelist 1", got)
	}
	// A refused Put announces nothing; the next change comes through in order.
	if _, err := writer.Put(ctx, "whitelist", []byte("stale"), "admin", 0); err == nil {
		t.Fatal("stale Put accepted")
	}
	if _, err := writer.Restore(ctx, fleet.Document{Kind: "cidrdb", Version: 4, SHA256: fleet.Sum(nil)}); err != nil {
		t.Fatal(err)
	}
	if got := waitFor(t, changes, "notification"); got != (change{"cidrdb", 4}) {
		t.Fatalf("notification %+v, want cidrdb 4 (the refused Put must not announce)", got)
	}
}

// Messages on the channel that are not the store's notifications are ignored.
func TestWatchIgnoresForeignMessages(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newStore(t, addr, fleet.Config{})
	sub, changes := startWatch(t, s)
	waitFor(t, sub, "subscription")
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	ctx := ctxTimeout(t, 5*time.Second)
	for _, msg := range []string{"hello", `{"kind":"Bad Kind","version":1}`, `{"kind":"whitelist","version":0}`, `{}`} {
		if err := rdb.Publish(ctx, s.Channel(), msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, "whitelist", nil, "a", 0); err != nil {
		t.Fatal(err)
	}
	if got := waitFor(t, changes, "notification"); got != (change{"whitelist", 1}) {
		t.Fatalf("first notification %+v, want whitelist 1: a foreign message got through", got)
	}
}

// Redis restarts empty: the watching node hears of its new subscription (its cue to restore and re-read),
// restores its copy, and a later change still reaches it.
func TestWatchAcrossRedisRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	watcher, writer := newStore(t, srv.Addr, fleet.Config{}), newStore(t, srv.Addr, fleet.Config{})
	sub, changes := startWatch(t, watcher)
	waitFor(t, sub, "subscription")
	ctx := ctxTimeout(t, 20*time.Second)
	local, err := writer.Put(ctx, "whitelist", []byte("a.test\n"), "admin", 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, changes, "notification")

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// go-redis notices the dead connection by its next read or its ping (every 3 s) and re-subscribes.
	select {
	case <-sub:
	case <-time.After(10 * time.Second):
		t.Fatal("no re-subscription within 10s of Redis restarting")
	}
	if _, err := watcher.Get(ctx, "whitelist"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("Get after an empty restart: %v, want ErrNotFound", err)
	}
	if wrote, err := watcher.Restore(ctx, local); err != nil || !wrote {
		t.Fatalf("Restore into the empty Redis: wrote %v, err %v", wrote, err)
	}
	if got := waitFor(t, changes, "notification"); got != (change{"whitelist", 1}) {
		t.Fatalf("notification %+v, want the restore's whitelist 1", got)
	}
	if _, err := writer.Put(ctx, "whitelist", []byte("b.test\n"), "admin", 1); err != nil {
		t.Fatalf("Put after the restore: %v", err)
	}
	if got := waitFor(t, changes, "notification"); got != (change{"whitelist", 2}) {
		t.Fatalf("notification %+v, want whitelist 2", got)
	}
}
