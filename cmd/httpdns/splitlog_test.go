package main

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/prober"
	"github.com/httpdns/httpdns/resolver"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSplitLogWritesObservationsAndRotates(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "splits.jsonl")
	l, err := newSplitLog(path, 2000, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sig := resolver.SplitSignal{
		Name: "img.cdn-c.test", Qtype: 1,
		Block:  netip.MustParsePrefix("20.1.0.0/20"),
		Source: netip.MustParsePrefix("20.1.2.0/24"),
		Scope:  netip.MustParsePrefix("20.1.2.64/26"),
		Answer: []netip.Addr{netip.MustParseAddr("63.0.0.1")},
		Time:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	const n = 40
	for range n {
		l.RecordSplit(sig)
	}
	l.Close()
	var got []prober.Observation
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("%s: %v (rotation should have kept both files)", p, err)
		}
		bad, err := prober.ReadObservations(f, func(o prober.Observation) { got = append(got, o) })
		f.Close()
		if err != nil || len(bad) > 0 {
			t.Fatalf("reading %s: %v %v", p, err, bad)
		}
		if fi, _ := os.Stat(p); fi.Size() > 2000 {
			t.Errorf("%s is %d bytes, over the 2000-byte bound", p, fi.Size())
		}
	}
	if len(got) == 0 || len(got) > n {
		t.Fatalf("read back %d observations of %d written", len(got), n)
	}
	o := got[len(got)-1]
	if o.Subnet != sig.Source || o.Scope != 26 || o.Source != prober.SourceSplit || o.Domain != sig.Name ||
		len(o.Answers) != 1 || o.Answers[0] != sig.Answer[0] || !o.Time.Equal(sig.Time) {
		t.Errorf("observation %+v does not carry the signal %+v", o, sig)
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitWritten waits until l has written n lines (its goroutine then idles on the queue).
func waitWritten(t *testing.T, l *jsonlLog, n float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(l.written)+testutil.ToFloat64(l.dropped) < n {
		if time.Now().After(deadline) {
			t.Fatalf("written %v, dropped %v, want %v", testutil.ToFloat64(l.written), testutil.ToFloat64(l.dropped), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// TestSplitLogRecordAfterClose: a resolver miss that outlives shutdown records a split signal after
// the log closed; it is dropped instead of sending on a closed channel (a panic).
func TestSplitLogRecordAfterClose(t *testing.T) {
	t.Parallel()
	l, err := newSplitLog(filepath.Join(t.TempDir(), "s.jsonl"), 1<<20, nil, discard())
	if err != nil {
		t.Fatal(err)
	}
	sig := resolver.SplitSignal{Name: "a.test", Qtype: 1, Source: netip.MustParsePrefix("20.1.2.0/24"),
		Scope: netip.MustParsePrefix("20.1.2.0/26"), Time: time.Now()}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				l.RecordSplit(sig)
			}
		})
	}
	wg.Go(l.Close)
	wg.Wait()
	l.RecordSplit(sig)
	l.Close() // twice is fine
	if got := testutil.ToFloat64(l.written) + testutil.ToFloat64(l.dropped); got != 8*200+1 {
		t.Errorf("written+dropped = %v, want every one of %d signals accounted for", got, 8*200+1)
	}
}

// TestSplitLogRecoversAfterWriteError: a failed write (the file closed under the log, as a full disk
// or a lost mount fails it) is counted, and the log reopens its file on a later record; so does a
// file removed under it.
func TestSplitLogRecoversAfterWriteError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.jsonl")
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l, err := newJSONLLog("split_log", path, 1<<20, discard(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rec := func(i int) { l.Record(map[string]int{"n": i}) }
	rec(1)
	waitWritten(t, l, 1)
	l.f.Close() // the next write fails
	rec(2)
	waitWritten(t, l, 2)
	if testutil.ToFloat64(l.errs) != 1 || testutil.ToFloat64(l.dropped) != 1 {
		t.Fatalf("errors %v dropped %v after a failed write, want 1 and 1", testutil.ToFloat64(l.errs), testutil.ToFloat64(l.dropped))
	}
	rec(3) // too soon to reopen: dropped
	waitWritten(t, l, 3)
	clk.Add(2 * reopenEvery)
	rec(4)
	waitWritten(t, l, 4)
	if n := countLines(t, path); n != 2 || testutil.ToFloat64(l.written) != 2 {
		t.Fatalf("%d lines after reopening, want 2 (the first and the fourth)", n)
	}
	// Removed under the log: the next record after reopenEvery notices and starts a new file.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * reopenEvery)
	rec(5)
	waitWritten(t, l, 5)
	if n := countLines(t, path); n != 1 {
		t.Errorf("%d lines in the new file, want 1", n)
	}
}
