package api

import (
	"slices"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/resolver"
)

func TestValidHost(t *testing.T) {
	t.Parallel()
	label63 := strings.Repeat("a", 63)
	name253 := strings.Repeat(label63+".", 3) + strings.Repeat("b", 61) // 64*3 + 61 = 253
	tests := []struct {
		host string
		want bool
	}{
		{"api.example.com", true},
		{"API.Example.COM", true},
		{"api.example.com.", true},
		{"localhost", true},
		{"_dmarc.example.com", true},
		{"a-b.c_d.example", true},
		{"123.example.com", true},
		{"example.com1", true},
		{"xn--fiqs8s.cn", true},
		{label63 + ".com", true},
		{name253, true},
		{name253 + ".", true},
		{"", false},
		{".", false},
		{"example.com..", false},
		{".example.com", false},
		{"a..example.com", false},
		{strings.Repeat("a", 64) + ".com", false},
		{name253 + "b", false},
		{"-api.example.com", false},
		{"api-.example.com", false},
		{"api.example.-com", false},
		{"a b.com", false},
		{"a*.example.com", false},
		{"*.example.com", false},
		{"例子.cn", false},
		{"1.2.3.4", false},
		{"1.2.3.4.", false},
		{"::1", false},
		{"[::1]", false},
		{"example.123", false},
		{"123", false},
		{"a/b.com", false},
		{"a%2e.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			if got := validHost(tt.host); got != tt.want {
				t.Errorf("validHost(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

func TestParseParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw string
		want      params
	}{
		{"empty", "", params{}},
		{"all", "host=a.com&ip=1.2.3.4&query=4,6",
			params{host: param{"a.com", true, false}, ip: param{"1.2.3.4", true, false}, query: param{"4,6", true, false}}},
		{"first wins", "host=a.com&host=b.com", params{host: param{"a.com", true, false}}},
		{"empty first wins", "host=&host=b.com", params{host: param{"", true, false}}},
		{"no equals", "host", params{host: param{"", true, false}}},
		{"unknown ignored", "x=1&dn=b.com&host=a.com&", params{host: param{"a.com", true, false}}},
		{"escaped value", "query=4%2C6", params{query: param{"4,6", true, false}}},
		{"plus is space", "host=a+b", params{host: param{"a b", true, false}}},
		{"escaped key", "%68ost=a.com", params{host: param{"a.com", true, false}}},
		{"bad escape in value", "ip=1%zz", params{ip: param{"1%zz", true, true}}},
		{"bad escape in key ignored", "ho%zzst=a&host=b.com", params{host: param{"b.com", true, false}}},
		{"semicolon is data", "host=a.com;ip=1", params{host: param{"a.com;ip=1", true, false}}},
		{"case matters", "HOST=a.com", params{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := parseParams(tt.raw); got != tt.want {
				t.Errorf("parseParams(%q) = %+v, want %+v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestParseFamilies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		q    param
		want []uint16
		ok   bool
	}{
		{"absent", param{}, []uint16{resolver.TypeA}, true},
		{"empty", param{set: true}, []uint16{resolver.TypeA}, true},
		{"4", param{val: "4", set: true}, []uint16{resolver.TypeA}, true},
		{"6", param{val: "6", set: true}, []uint16{resolver.TypeAAAA}, true},
		{"4,6", param{val: "4,6", set: true}, []uint16{resolver.TypeA, resolver.TypeAAAA}, true},
		{"6,4", param{val: "6,4", set: true}, []uint16{resolver.TypeAAAA, resolver.TypeA}, true},
		{"bad escape", param{val: "4%", set: true, bad: true}, nil, false},
		{"4,", param{val: "4,", set: true}, nil, false},
		{"6,6", param{val: "6,6", set: true}, nil, false},
		{"4, 6", param{val: "4, 6", set: true}, nil, false},
		{"v4", param{val: "v4", set: true}, nil, false},
		{"A", param{val: "A", set: true}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := parseFamilies(tt.q)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && !slices.Equal(f.list(), tt.want) {
				t.Errorf("families %v, want %v", f.list(), tt.want)
			}
		})
	}
}

// FuzzValidHost checks validHost against the rules spelled out independently.
func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"api.example.com", "a..b", "1.2.3.4", "-a.com", "_x.y", "a.b.", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validHost(s) != oracleHost(s) {
			t.Errorf("validHost(%q) = %v, oracle disagrees", s, validHost(s))
		}
	})
}

func oracleHost(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return false
		}
		if strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return false
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}
