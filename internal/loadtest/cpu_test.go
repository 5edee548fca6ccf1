package main

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr error
	}{
		{"cat", "10288 (cat) R 10286 10286 22159 0 -1 4194304 129 0 0 0 7 3 0 0 20 0 1 0 404897 3133440 413\n", 100 * time.Millisecond, nil},
		{"name with spaces and parentheses", "42 (a (b) c) S 1 42 42 0 -1 4194304 1 0 0 0 250 50 0 0 20 0 9 0\n", 3 * time.Second, nil},
		{"no name", "42 S 1 42\n", 0, errStat},
		{"short", "42 (x) S 1 2 3\n", 0, errStat},
		{"not a number", "42 (x) S 1 42 42 0 -1 4194304 1 0 0 0 many 50 0 0\n", 0, errStat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStat([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("got %v %v, want %v %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestProcessCPU burns CPU in this process until /proc has counted at least 50 ms of it, and
// fails if that takes far longer than 50 ms of CPU could.
func TestProcessCPU(t *testing.T) {
	t.Parallel()
	m, err := startCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for deadline := time.Now().Add(10 * time.Second); ; x++ {
		if x%1_000_000 == 0 {
			per, err := m.perRequest(1)
			if err != nil {
				t.Fatal(err)
			}
			if per >= 50*time.Millisecond {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("10 s of spinning counted as %v", per)
			}
		}
	}
}
