package prober

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestCover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		first, last string
		want        []string
	}{
		{"aligned", "10.0.0.0", "10.0.3.255", []string{"10.0.0.0/22"}},
		{"unaligned run", "10.0.1.0", "10.0.3.255", []string{"10.0.1.0/24", "10.0.2.0/23"}},
		{"single", "10.0.0.5", "10.0.0.5", []string{"10.0.0.5/32"}},
		{"sub-/24", "10.0.0.128", "10.0.1.255", []string{"10.0.0.128/25", "10.0.1.0/24"}},
		{"top of space", "255.255.255.0", "255.255.255.255", []string{"255.255.255.0/24"}},
		{"ipv6", "2001:db8::", "2001:db8:0:2ff:ffff:ffff:ffff:ffff", []string{"2001:db8::/55", "2001:db8:0:200::/56"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, p := range cover(netip.MustParseAddr(tt.first), netip.MustParseAddr(tt.last)) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("cover(%s, %s) = %v, want %v", tt.first, tt.last, got, tt.want)
			}
		})
	}
}

func TestPiecesAndLastAddr(t *testing.T) {
	t.Parallel()
	got := pieces(pfx("10.0.0.0/24"), 26)
	want := []netip.Prefix{pfx("10.0.0.0/26"), pfx("10.0.0.64/26"), pfx("10.0.0.128/26"), pfx("10.0.0.192/26")}
	if !slices.Equal(got, want) {
		t.Errorf("pieces = %v, want %v", got, want)
	}
	if got := pieces(pfx("10.0.0.0/24"), 24); !slices.Equal(got, []netip.Prefix{pfx("10.0.0.0/24")}) {
		t.Errorf("pieces at the same length = %v", got)
	}
	if got := lastAddr(pfx("2001:db8::/56")); got != netip.MustParseAddr("2001:db8:0:ff:ffff:ffff:ffff:ffff") {
		t.Errorf("lastAddr = %s", got)
	}
}

func TestUnitBits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		network string
		unit    int
		cap     int
	}{
		{"10.0.0.0/16", 24, 28},
		{"10.0.0.0/24", 24, 28},
		{"10.0.0.0/26", 26, 28},
		{"10.0.0.0/29", 29, 29},
		{"0.0.0.0/0", 16, 20},
		{"2001:db8::/48", 56, 60},
		{"2001:db8::/32", 56, 60},
		{"2001:db8::/51", 56, 60},
		{"2001:db8::/60", 60, 64},
	}
	for _, tt := range tests {
		p := pfx(tt.network)
		u := unitBitsFor(p)
		if u != tt.unit {
			t.Errorf("unitBitsFor(%s) = %d, want %d", p, u, tt.unit)
		}
		if c := subCap(netip.PrefixFrom(p.Addr(), u)); c != tt.cap {
			t.Errorf("subCap(%s/%d) = %d, want %d", p.Addr(), u, c, tt.cap)
		}
	}
}

func TestSpreadOrder(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 5, 16, 1000} {
		got := spreadOrder(n)
		sorted := slices.Sorted(slices.Values(got))
		want := make([]int, n)
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(sorted, want) {
			t.Errorf("spreadOrder(%d) is not a permutation: %v", n, got)
		}
	}
	if got := spreadOrder(8); !slices.Equal(got, []int{0, 4, 2, 6, 1, 5, 3, 7}) {
		t.Errorf("spreadOrder(8) = %v", got)
	}
}

func TestEffectiveAndFollowUps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		subnet string
		scope  int
		cap    int
		eff    string
		follow []string
	}{
		{"no ecs", "10.0.0.0/24", -1, 28, "10.0.0.0/24", nil},
		{"echo", "10.0.0.0/24", 24, 28, "10.0.0.0/24", nil},
		{"wider", "10.0.5.0/24", 20, 28, "10.0.0.0/20", nil},
		{"global", "10.0.5.0/24", 0, 28, "0.0.0.0/0", nil},
		{"finer", "10.0.0.0/24", 26, 28, "10.0.0.0/26",
			[]string{"10.0.0.64/26", "10.0.0.128/26", "10.0.0.192/26"}},
		{"finer than the cap", "10.0.0.0/24", 32, 25, "10.0.0.0/25", []string{"10.0.0.128/25"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := Observation{Subnet: pfx(tt.subnet), Scope: tt.scope}
			eff := effective(&o, tt.cap)
			if eff != pfx(tt.eff) {
				t.Errorf("effective = %s, want %s", eff, tt.eff)
			}
			var got []string
			for _, p := range followUps(o.Subnet, eff) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.follow) {
				t.Errorf("followUps = %v, want %v", got, tt.follow)
			}
		})
	}
}

func TestKnownDone(t *testing.T) {
	t.Parallel()
	k := newKnown()
	k.add(pfx("10.0.5.0/24"), pfx("10.0.0.0/20"), 0)
	k.add(pfx("10.1.0.0/24"), pfx("10.1.0.0/26"), 0)
	tests := []struct {
		p    string
		q    question
		done bool
	}{
		{"10.0.5.0/24", 0, true},
		{"10.0.15.0/24", 0, true},  // inside the /20 scope
		{"10.0.16.0/24", 0, false}, // outside it
		{"10.0.15.0/24", 1, false}, // another question
		{"10.1.0.0/24", 0, true},   // asked
		{"10.1.0.0/26", 0, true},   // answered
		{"10.1.0.64/26", 0, false}, // a piece still to probe
	}
	for _, tt := range tests {
		if got := k.done(target{pfx(tt.p), tt.q}); got != tt.done {
			t.Errorf("done(%s, %d) = %v, want %v", tt.p, tt.q, got, tt.done)
		}
	}
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := newLimiter(100, 2, func() time.Time { return now })
	waits := []time.Duration{l.reserve(), l.reserve(), l.reserve(), l.reserve()}
	want := []time.Duration{0, 0, 10 * time.Millisecond, 20 * time.Millisecond}
	if !slices.Equal(waits, want) {
		t.Errorf("reservations wait %v, want %v", waits, want)
	}
	now = now.Add(time.Second) // refills to the burst, after paying the debt
	if d := l.reserve(); d != 0 {
		t.Errorf("after a second: wait %v, want 0", d)
	}
	if d := newLimiter(-1, 1, time.Now).reserve(); d != 0 {
		t.Errorf("unlimited limiter waits %v", d)
	}
	slow := newLimiter(0.001, 1, time.Now)
	slow.reserve()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := slow.wait(ctx); err == nil {
		t.Error("wait on a cancelled context returned nil")
	}
}

func TestNodesPassOverDownNodes(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	ns := newNodes([]string{"a:53", "b:53", "c:53"}, func() time.Time { return now })
	if got := []int{ns.pick(1, 0), ns.pick(1, 1), ns.pick(1, 2)}; !slices.Equal(got, []int{1, 2, 0}) {
		t.Errorf("picks from 1 = %v, want ring order", got)
	}
	for range downAfter {
		ns.report(2, context.DeadlineExceeded)
	}
	if got := []int{ns.pick(1, 0), ns.pick(1, 1), ns.pick(2, 0)}; !slices.Equal(got, []int{1, 0, 0}) {
		t.Errorf("with c down: picks %v, want c passed over", got)
	}
	now = now.Add(downFor)
	if got := ns.pick(2, 0); got != 2 {
		t.Errorf("after %v c is still passed over (pick %d)", downFor, got)
	}
	for i := range 3 {
		for range downAfter {
			ns.report(i, context.DeadlineExceeded)
		}
	}
	if got := ns.pick(1, 1); got != 2 {
		t.Errorf("with every node down: pick %d, want plain ring order", got)
	}
	if e := ns.errors(); !strings.Contains(e, "a:53: context deadline exceeded") {
		t.Errorf("errors() = %q", e)
	}
}
