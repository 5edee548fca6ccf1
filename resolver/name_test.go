package resolver

import (
	"strings"
	"testing"
)

func TestCanonicalName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 63)
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"api.example.com", "api.example.com", true},
		{"API.Example.COM.", "api.example.com", true},
		{"_srv.example.com", "_srv.example.com", true},
		{"a-b.c", "a-b.c", true},
		{"localhost", "localhost", true},
		{long + ".com", long + ".com", true},
		{"", "", false},
		{".", "", false},
		{"a..b", "", false},
		{".a.b", "", false},
		{"-a.b", "", false},
		{"a-.b", "", false},
		{"a.b-", "", false},
		{"a b.c", "", false},
		{"a/b.c", "", false},
		{"ü.com", "", false},
		{long + "a.com", "", false},
		{strings.Repeat("a.", 127) + "ab", "", false},
		{"1.2.3.4", "", false},
		{"a.123", "", false},
		{"123", "", false},
		{"1a.2b.com", "1a.2b.com", true},
		{"a.b2", "a.b2", true},
		{"::1", "", false},
	}
	for _, tt := range tests {
		got, err := CanonicalName(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CanonicalName(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
