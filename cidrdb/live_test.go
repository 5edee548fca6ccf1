package cidrdb

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestLive(t *testing.T) (*Live, Config) {
	t.Helper()
	g := mustGeo(t, world())
	cfg := Config{CityPath: g.city, ISPPath: g.isp, CIDRDBPath: filepath.Join(t.TempDir(), "cidr.mmdb")}
	if err := WriteFile(cfg.CIDRDBPath, testBlocks()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	l, err := NewLive(cfg, LiveOptions{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, cfg
}

func TestLiveReloadSwapsWithoutDroppingLookups(t *testing.T) {
	t.Parallel()
	l, cfg := newTestLive(t)
	if got := l.Locate(addr("10.1.5.9")).BlockID; got != 3 {
		t.Fatalf("before reload: block %d, want 3", got)
	}
	// Lookups keep running while the file is replaced and reloaded.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				if id := l.Locate(addr("10.1.5.9")).BlockID; id != 3 && id != 9 {
					bad.Add(1)
				}
			}
		})
	}
	recs := testBlocks()
	recs[4].BlockID = 9 // 10.1.4.0/22 becomes block 9
	if err := WriteFile(cfg.CIDRDBPath, recs); err != nil {
		t.Fatal(err)
	}
	if !l.Changed() {
		t.Error("Changed() = false after the file was rewritten")
	}
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond) // lookups go on against the new DB while the old one is dropped
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d lookups saw neither the old nor the new block", bad.Load())
	}
	if got := l.Locate(addr("10.1.5.9")).BlockID; got != 9 {
		t.Errorf("after reload: block %d, want 9", got)
	}
	if l.Changed() {
		t.Error("Changed() = true right after a reload")
	}
	if v := testutil.ToFloat64(l.metrics.reloads.WithLabelValues("ok")); v != 1 {
		t.Errorf("reloads ok = %v", v)
	}
	if v := testutil.ToFloat64(l.metrics.blocks); v != float64(l.Current().Blocks()) || v == 0 {
		t.Errorf("blocks gauge = %v", v)
	}
}

func TestLiveReloadRejectsBadFileAndKeepsServing(t *testing.T) {
	t.Parallel()
	for name, write := range map[string]func(path string) error{
		"garbage": func(p string) error { return os.WriteFile(p, []byte("not an mmdb at all"), 0o644) },
		"wrong type": func(p string) error {
			g := mustGeo(t, world())
			b, err := os.ReadFile(g.city)
			if err != nil {
				return err
			}
			return os.WriteFile(p, b, 0o644)
		},
		"missing": os.Remove,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l, cfg := newTestLive(t)
			before := l.Current()
			if err := write(cfg.CIDRDBPath); err != nil {
				t.Fatal(err)
			}
			if err := l.Reload(); err == nil {
				t.Fatal("Reload accepted a bad CIDRDB")
			}
			if l.Current() != before || l.Locate(addr("10.1.5.9")).BlockID != 3 {
				t.Error("a rejected reload changed the serving DB")
			}
			if v := testutil.ToFloat64(l.metrics.reloads.WithLabelValues("error")); v != 1 {
				t.Errorf("reloads error = %v", v)
			}
		})
	}
}

func TestLiveClosed(t *testing.T) {
	t.Parallel()
	l, _ := newTestLive(t)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(); err != ErrClosed {
		t.Errorf("Reload after Close: %v", err)
	}
}
