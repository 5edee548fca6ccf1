package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/cache"
)

func TestEntryFor(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	seen := map[cache.Key]int{}
	for _, i := range []int{0, 1, 63, 64, blocksPerName - 1, blocksPerName, 7*blocksPerName + 5, maxEntries - 1} {
		k, e := entryFor(i, now)
		if j, dup := seen[k]; dup {
			t.Fatalf("entries %d and %d share key %+v", j, i, k)
		}
		seen[k] = i
		p, err := netip.ParsePrefix(k.Scope)
		if err != nil || p.Bits() != 22 || p != p.Masked() || p.Addr().As4()[0] != 20 || p != e.Scope {
			t.Errorf("entry %d: scope %q (entry scope %v), want a /22 block of 20.0.0.0/8", i, k.Scope, e.Scope)
		}
		if !strings.HasSuffix(k.Name, ".test") || k.Tier != cache.TierSubnet || k.Qtype != 1 {
			t.Errorf("entry %d: key %+v", i, k)
		}
		if len(e.IPs) != 2 || !e.IPs[0].Is4() || e.IPs[0] == e.IPs[1] || e.TTL != 300 || !e.Fetched.Equal(now) {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
	if k, _ := entryFor(0, now); k.Name != "img.cdn-a.test" || k.Scope != "20.0.0.0/22" {
		t.Errorf("first key %+v, want img.cdn-a.test in 20.0.0.0/22", k)
	}
}

func TestFill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		maxBytes  int64
		n         int
		wantShort bool
	}{
		{"room for all", 64 << 20, 20_000, false},
		{"budget for a few thousand", 1 << 20, 20_000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := cache.New(cache.Config{MaxBytes: tt.maxBytes})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			f := fill(context.Background(), c, tt.n, time.Now())
			if short := f.present < tt.n; short != tt.wantShort {
				t.Fatalf("present %d of %d, want shortfall %v", f.present, tt.n, tt.wantShort)
			}
			if f.perTier[cache.TierSubnet] != int64(f.present) || f.sets != tt.n+f.retried {
				t.Errorf("Len %d present %d sets %d retried %d", f.perTier[cache.TierSubnet], f.present, f.sets, f.retried)
			}
			if tt.wantShort && f.retried == 0 {
				t.Error("a shortfall without re-Sets")
			}
		})
	}
}

// TestRunSmall runs the whole measurement without the service baseline and checks that it
// reports a full fill and plausible bytes per entry.
func TestRunSmall(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-entries", "20000", "-baseline=false"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"requested 20000, stored 20000", "cost accounting (cache.Bytes)", "after FreeOSMemory"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "SHORTFALL") {
		t.Errorf("shortfall reported:\n%s", got)
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		rss, hwm int64
		wantErr  error
	}{
		{"proc status", "Name:\thttpdns\nVmPeak:\t 1265420 kB\nVmHWM:\t   21000 kB\nVmRSS:\t   20908 kB\nThreads:\t9\n", 20908 << 10, 21000 << 10, nil},
		{"missing VmHWM", "VmRSS:\t 1 kB\n", 0, 0, errStatus},
		{"not kB", "VmRSS:\t 1 MB\nVmHWM:\t 1 kB\n", 0, 0, errStatus},
		{"empty", "", 0, 0, errStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rss, hwm, err := parseStatus(strings.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) || rss != tt.rss || hwm != tt.hwm {
				t.Errorf("got %d %d %v, want %d %d %v", rss, hwm, err, tt.rss, tt.hwm, tt.wantErr)
			}
		})
	}
	if rss, _, err := procRSS("self"); err != nil || rss <= 0 {
		t.Errorf("procRSS(self) = %d, %v", rss, err)
	}
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		maxBytes int64
		wantErr  bool
	}{
		{"a million", nil, 512 << 20, false},
		{"few entries get the floor", []string{"-entries", "10"}, 16 << 20, false},
		{"explicit budget", []string{"-max-bytes", "1073741824"}, 1 << 30, false},
		{"no entries", []string{"-entries", "0"}, 0, true},
		{"more than the names hold", []string{"-entries", "999999999"}, 0, true},
		{"negative budget", []string{"-max-bytes", "-1"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseOptions(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && o.maxBytes != tt.maxBytes {
				t.Errorf("max bytes %d, want %d", o.maxBytes, tt.maxBytes)
			}
		})
	}
}
