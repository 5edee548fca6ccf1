package cdnsim

import (
	"net/netip"
	"slices"
	"testing"
)

func TestCIDRs(t *testing.T) {
	t.Parallel()
	ip := func(s string) uint32 { return u32(netip.MustParseAddr(s)) }
	tests := []struct {
		first, last string
		want        []string
	}{
		{"20.0.0.0", "20.0.255.255", []string{"20.0.0.0/16"}},
		{"20.0.1.0", "20.0.5.255", []string{"20.0.1.0/24", "20.0.2.0/23", "20.0.4.0/23"}},
		{"20.0.3.0", "20.0.3.255", []string{"20.0.3.0/24"}},
		{"20.0.3.64", "20.0.3.191", []string{"20.0.3.64/26", "20.0.3.128/26"}},
		{"0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"255.255.255.255", "255.255.255.255", []string{"255.255.255.255/32"}},
	}
	for _, tt := range tests {
		var got []string
		for _, p := range cidrs(span{ip(tt.first), ip(tt.last)}) {
			got = append(got, p.String())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("cidrs(%s-%s) = %v, want %v", tt.first, tt.last, got, tt.want)
		}
	}
}
