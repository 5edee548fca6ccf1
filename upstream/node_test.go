package upstream

import (
	"testing"
	"time"
)

func TestNodeErrorRate(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		failed bool
		after  time.Duration // clock advance before the attempt
	}
	repeat := func(n int, s step) []step {
		out := make([]step, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	fail, ok := step{failed: true}, step{}
	tests := []struct {
		name  string
		steps []step
		eject bool // the last failure reports an ejection
	}{
		{"nine failures are too few", repeat(9, fail), false},
		{"ten failures eject", repeat(10, fail), true},
		{"half of twenty ejects", append(repeat(10, ok), repeat(10, fail)...), true},
		{"under half does not", append(repeat(11, ok), repeat(9, fail)...), false},
		{"old successes leave the window", append(repeat(20, ok), repeat(10, fail)...), true},
		{"old failures age out", append(repeat(9, fail), append([]step{{failed: true, after: healthWindow + time.Second}}, repeat(8, fail)...)...), false},
		{"failures within the window add up", append(repeat(5, fail), append([]step{{failed: true, after: healthWindow / 2}}, repeat(4, fail)...)...), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newNode("127.0.0.1:53")
			now := t0
			var eject bool
			for _, s := range tc.steps {
				now = now.Add(s.after)
				if s.failed {
					eject = n.recordFailure(now, DefaultEjectErrorRate)
				} else {
					n.recordSuccess(now, time.Millisecond)
				}
			}
			if eject != tc.eject {
				t.Errorf("eject = %v, want %v", eject, tc.eject)
			}
		})
	}
}

func TestNodeLatency(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t.Run("p95 needs enough samples", func(t *testing.T) {
		t.Parallel()
		n := newNode("127.0.0.1:53")
		for i := range hedgeMinSamples - 1 {
			n.recordSuccess(now, time.Duration(i+1)*time.Millisecond)
		}
		if got := n.p95.Load(); got != 0 {
			t.Fatalf("p95 after %d samples = %v, want none", hedgeMinSamples-1, time.Duration(got))
		}
		n.recordSuccess(now, 20*time.Millisecond)
		if got := time.Duration(n.p95.Load()); got != 19*time.Millisecond {
			t.Errorf("p95 of 1..20ms = %v, want 19ms", got)
		}
	})
	t.Run("p95 of the last samples", func(t *testing.T) {
		t.Parallel()
		n := newNode("127.0.0.1:53")
		for range latencySamples {
			n.recordSuccess(now, time.Second) // pushed out by the next ones
		}
		for i := range latencySamples {
			n.recordSuccess(now, time.Duration(i%100+1)*time.Millisecond)
		}
		if got := time.Duration(n.p95.Load()); got < 90*time.Millisecond || got > 100*time.Millisecond {
			t.Errorf("p95 = %v, want about 95ms", got)
		}
	})
	t.Run("ewma follows and lower bounds only raise it", func(t *testing.T) {
		t.Parallel()
		n := newNode("127.0.0.1:53")
		n.recordSuccess(now, 10*time.Millisecond)
		if got := time.Duration(n.ewma.Load()); got != 10*time.Millisecond {
			t.Fatalf("first ewma = %v, want the sample", got)
		}
		n.recordLowerBound(time.Millisecond)
		if got := time.Duration(n.ewma.Load()); got != 10*time.Millisecond {
			t.Errorf("a lower bound under the ewma moved it to %v", got)
		}
		n.recordLowerBound(60 * time.Millisecond)
		if got := time.Duration(n.ewma.Load()); got != 20*time.Millisecond {
			t.Errorf("ewma after a 60ms lower bound = %v, want 20ms", got)
		}
		n.reset(3 * time.Millisecond)
		if got := time.Duration(n.ewma.Load()); got != 3*time.Millisecond || n.p95.Load() != 0 || n.slowEnough() {
			t.Errorf("after reset: ewma %v p95 %v", got, n.p95.Load())
		}
	})
}

func TestNodeCheckStreak(t *testing.T) {
	t.Parallel()
	n := newNode("127.0.0.1:53")
	limit := 50 * time.Millisecond
	steps := []struct {
		ok   bool
		d    time.Duration
		want int
	}{
		{true, time.Millisecond, 1},
		{true, time.Millisecond, 2},
		{false, time.Millisecond, 0}, // a failure starts again
		{true, time.Millisecond, 1},
		{true, 80 * time.Millisecond, 0}, // alive but too slow
		{true, limit, 1},
	}
	for i, s := range steps {
		if got := n.checkResult(s.ok, s.d, limit); got != s.want {
			t.Errorf("step %d: streak %d, want %d", i, got, s.want)
		}
	}
}
