package cidrdb

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestRangePrefixes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		first, last string
		want        string
	}{
		{"10.0.0.7", "10.0.0.7", "10.0.0.7/32"},
		{"10.1.1.0", "10.1.2.255", "10.1.1.0/24 10.1.2.0/24"},
		{"10.0.0.1", "10.0.0.6", "10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32"},
		{"0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"255.255.255.0", "255.255.255.255", "255.255.255.0/24"},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"},
		{"2001:db8::", "2001:db8:bfff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/33 2001:db8:8000::/34"},
		{"8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "8000::/1"},
	}
	for _, tt := range tests {
		a, b := netip.MustParseAddr(tt.first), netip.MustParseAddr(tt.last)
		var got []string
		for _, p := range rangePrefixes(toU128(a), toU128(b), a.Is4()) {
			got = append(got, p.String())
		}
		if s := strings.Join(got, " "); s != tt.want {
			t.Errorf("rangePrefixes(%s, %s) = %s, want %s", tt.first, tt.last, s, tt.want)
		}
		if r := (Range{a, b}).String(); len(got) == 1 && r != got[0] || len(got) > 1 && r != tt.first+"-"+tt.last {
			t.Errorf("Range{%s, %s}.String() = %s", tt.first, tt.last, r)
		}
	}
}

func TestOverlay(t *testing.T) {
	t.Parallel()
	s := func(n string, v int32) span {
		lo, hi := rangeOf(pfx(n))
		return span{lo, hi, v}
	}
	tests := []struct {
		name string
		a, b []span
		want string
	}{
		{"nothing", nil, nil, ""},
		{"one side", []span{s("10.0.0.0/24", 0)}, nil, "10.0.0.0/24=0,-1"},
		{"nested", []span{s("10.0.0.0/22", 0)}, []span{s("10.0.1.0/24", 5)},
			"10.0.0.0/24=0,-1 10.0.1.0/24=0,5 10.0.2.0/23=0,-1"},
		{"staggered", []span{s("10.0.0.0/23", 0), s("10.0.2.0/24", 1)}, []span{s("10.0.1.0/24", 7), s("10.0.2.0/23", 8)},
			"10.0.0.0/24=0,-1 10.0.1.0/24=0,7 10.0.2.0/24=1,8 10.0.3.0/24=-1,8"},
		{"overlap within a side", []span{s("10.0.0.0/23", 0), s("10.0.1.0/24", 1), s("10.0.1.128/25", 2)}, nil,
			"10.0.0.0/23=0,-1"},
		{"both families to the end", []span{s("10.0.0.0/8", 0)}, []span{s("8000::/1", 3)},
			"10.0.0.0/8=0,-1 8000::/1=-1,3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			overlay(tt.a, tt.b, func(lo, hi u128, va, vb int32) {
				is4 := isMapped4(lo)
				got = append(got, fmt.Sprintf("%s=%d,%d", Range{lo.addr(is4), hi.addr(is4)}, va, vb))
			})
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("overlay = %s, want %s", s, tt.want)
			}
		})
	}
}

func TestAppendClipped(t *testing.T) {
	t.Parallel()
	ex := excludedIPv6()
	tests := []struct {
		net  string
		want []string
	}{
		{"2001:db8::/32", []string{"2001:db8::/32"}},
		{"::/8", nil},
		{"2002::/16", nil},
		{"2001::/31", []string{"2001:1::/32"}},
		{"2000::/14", []string{"2000::/16", "2001:1::-2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2003::/16"}},
		{"::/0", []string{"100::-2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:1::-2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
			"2003::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
	}
	for _, tt := range tests {
		lo, hi := rangeOf(pfx(tt.net))
		var got []string
		for _, s := range appendClipped(nil, span{lo, hi, 0}, ex) {
			got = append(got, Range{s.lo.addr(false), s.hi.addr(false)}.String())
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("appendClipped(%s) = %q, want %q", tt.net, got, tt.want)
		}
	}
}

func TestU128(t *testing.T) {
	t.Parallel()
	max := lastAddr()
	if _, ok := max.inc(); ok {
		t.Error("inc of the last address did not report the wrap")
	}
	if n, ok := (u128{0, ^uint64(0)}).inc(); !ok || n != (u128{1, 0}) {
		t.Errorf("inc carries into %v", n)
	}
	if d := (u128{1, 0}).dec(); d != (u128{0, ^uint64(0)}) {
		t.Errorf("dec borrows into %v", d)
	}
	for _, tt := range []struct {
		u          u128
		n          int
		rsh        u128
		tz, bitLen int
	}{
		{u128{1, 0}, 1, u128{0, 1 << 63}, 64, 65},
		{max, 64, u128{0, ^uint64(0)}, 0, 128},
		{max, 128, u128{}, 0, 128},
		{u128{}, 3, u128{}, 128, 0},
		{u128{0, 8}, 0, u128{0, 8}, 3, 4},
	} {
		if got := tt.u.rsh(tt.n); got != tt.rsh {
			t.Errorf("%v.rsh(%d) = %v, want %v", tt.u, tt.n, got, tt.rsh)
		}
		if tz, bl := tt.u.trailingZeros(), tt.u.bitLen(); tz != tt.tz || bl != tt.bitLen {
			t.Errorf("%v: trailingZeros %d bitLen %d, want %d %d", tt.u, tz, bl, tt.tz, tt.bitLen)
		}
	}
	if satAdd(^uint64(0), 2) != ^uint64(0) || (u128{1, 0}).sat64() != ^uint64(0) {
		t.Error("saturating arithmetic wraps")
	}
}
