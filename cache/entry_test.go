package cache

import (
	"net/netip"
	"testing"
	"time"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestRemaining(t *testing.T) {
	t.Parallel()
	e := Entry{TTL: 60, Fetched: epoch}
	tests := []struct {
		name    string
		elapsed time.Duration
		want    uint32
	}{
		{"just fetched", 0, 60},
		{"a nanosecond in", time.Nanosecond, 60},
		{"half a second in", 500 * time.Millisecond, 60},
		{"one second in", time.Second, 59},
		{"last second", 59*time.Second + 500*time.Millisecond, 1},
		{"last nanosecond", 60*time.Second - time.Nanosecond, 1},
		{"expired exactly", 60 * time.Second, 0},
		{"long expired", time.Hour, 0},
		{"clock behind fetch", -time.Hour, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := e.Remaining(epoch.Add(tt.elapsed)); got != tt.want {
				t.Errorf("Remaining(+%v) = %d, want %d", tt.elapsed, got, tt.want)
			}
		})
	}
}

func TestExpires(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ttl  uint32
		want time.Time
	}{
		{0, epoch},
		{30, epoch.Add(30 * time.Second)},
		{1<<32 - 1, epoch.Add((1<<32 - 1) * time.Second)},
	}
	for _, tt := range tests {
		if got := (Entry{TTL: tt.ttl, Fetched: epoch}).Expires(); !got.Equal(tt.want) {
			t.Errorf("Expires(TTL %d) = %v, want %v", tt.ttl, got, tt.want)
		}
	}
	zero := Entry{TTL: 5}
	if got := zero.Remaining(epoch); got != 0 {
		t.Errorf("entry without Fetched: Remaining = %d, want 0", got)
	}
}

func TestResultString(t *testing.T) {
	t.Parallel()
	tests := map[Result]string{Hit: "hit", Stale: "stale", Miss: "miss", 0: "Result(0)", 9: "Result(9)"}
	for r, want := range tests {
		if got := r.String(); got != want {
			t.Errorf("Result(%d).String() = %q, want %q", uint8(r), got, want)
		}
	}
}

func TestNewItemCopies(t *testing.T) {
	t.Parallel()
	buf := []byte("xapi.example.comx")
	name := string(buf[1:16])
	ips := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}
	it := newItem(Key{Name: name, Tier: TierGlobal}, Entry{IPs: ips, TTL: 5, Fetched: epoch})
	ips[0] = netip.MustParseAddr("198.51.100.1")
	if got := it.entry.IPs[0]; got != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("stored IPs changed with the caller's slice: %v", got)
	}
	if cap(it.entry.IPs) != len(it.entry.IPs) {
		t.Errorf("stored IPs have spare capacity %d > %d, which an append could write into", cap(it.entry.IPs), len(it.entry.IPs))
	}
	if it.key.Name != "api.example.com" {
		t.Errorf("stored name %q", it.key.Name)
	}
}

func TestItemCost(t *testing.T) {
	t.Parallel()
	small := newItem(Key{Name: "a.example", Tier: TierGlobal}, Entry{})
	base := small.cost()
	if base < itemBytes+bookkeepingBytes {
		t.Fatalf("cost %d does not cover the struct (%d) and bookkeeping (%d)", base, itemBytes, bookkeepingBytes)
	}
	tests := []struct {
		name string
		it   *item
		want int64
	}{
		{"longer name", newItem(Key{Name: "a.example.example", Tier: TierGlobal}, Entry{}), base + 8},
		{"scope", newItem(Key{Name: "a.example", Tier: TierSubnet, Scope: "1.2.0.0/20"}, Entry{}), base + 10},
		{"two addresses", newItem(Key{Name: "a.example", Tier: TierGlobal},
			Entry{IPs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}}), base + 2*addrBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.it.cost(); got != tt.want {
				t.Errorf("cost = %d, want %d", got, tt.want)
			}
		})
	}
}
