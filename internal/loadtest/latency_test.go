package main

import (
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ten := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{7}, 0.999, 7},
		{"median of ten", ten, 0.5, 5},
		{"p90 of ten", ten, 0.9, 9},
		{"p99 of ten is the max", ten, 0.99, 10},
		{"p0", ten, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := percentile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

// TestSummarize builds the records of a 10 req/s run with 1 s of warm-up by hand.
func TestSummarize(t *testing.T) {
	t.Parallel()
	l := openLoop{rate: 10, warmup: time.Second, duration: time.Second}
	recs := make([]record, 20)
	for i := range recs {
		due := int64(l.due(i))
		// Measured requests 10..19 take (i-9) ms and are sent 1 µs late.
		recs[i] = record{sent: due + 1000, done: due + int64(i-9)*int64(time.Millisecond), ok: true}
	}
	recs[3].ok = false                                                  // in the warm-up: ignored
	recs[19] = record{sent: -1, done: int64(l.due(19) + 2*time.Second)} // failed unsent
	s := summarize(recs, l)
	if s.ok != 9 || s.failed != 1 {
		t.Fatalf("ok %d failed %d, want 9 and 1", s.ok, s.failed)
	}
	wantQ := []time.Duration{5 * time.Millisecond, 9 * time.Millisecond, 9 * time.Millisecond, 9 * time.Millisecond}
	for k, want := range wantQ {
		if s.q[k] != want {
			t.Errorf("q[%v] = %v, want %v", quantiles[k], s.q[k], want)
		}
	}
	if s.max != 9*time.Millisecond || s.lag99 != time.Microsecond {
		t.Errorf("max %v lag99 %v, want 9ms and 1µs", s.max, s.lag99)
	}
	// 9 answers between the first due time (1.0 s) and the last completion (1.9 s + 2 s).
	if want := 9 / 2.9; s.achieved < want-0.01 || s.achieved > want+0.01 {
		t.Errorf("achieved %.3f, want %.3f", s.achieved, want)
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	tests := []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		if got := median(tt.xs); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
	}
}

func TestRunOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		round, targets int
		want           []int
	}{
		{1, 2, []int{0, 1}},
		{2, 2, []int{1, 0}},
		{3, 2, []int{0, 1}},
		{4, 3, []int{2, 1, 0}},
	}
	for _, tt := range tests {
		if got := runOrder(tt.round, tt.targets); !slices.Equal(got, tt.want) {
			t.Errorf("runOrder(%d, %d) = %v, want %v", tt.round, tt.targets, got, tt.want)
		}
	}
}
