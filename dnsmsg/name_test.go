package dnsmsg

import (
	"strings"
	"testing"
)

func TestCanonicalName(t *testing.T) {
	t.Parallel()
	label63 := strings.Repeat("a", 63)
	name253 := strings.Repeat(label63+".", 3) + strings.Repeat("b", 61) // 64*3 + 61 = 253
	tests := []struct {
		in   string
		want string // "" when invalid
	}{
		{"api.example.com", "api.example.com"},
		{"API.Example.COM.", "api.example.com"},
		{"api.example.com.", "api.example.com"},
		{"_srv.example.com", "_srv.example.com"},
		{"_dmarc.example.com", "_dmarc.example.com"},
		{"a-b.c_d.example", "a-b.c_d.example"},
		{"a-b.c", "a-b.c"},
		{"localhost", "localhost"},
		{"xn--fiqs8s.cn", "xn--fiqs8s.cn"},
		{"123.example.com", "123.example.com"},
		{"1a.2b.com", "1a.2b.com"},
		{"a.b2", "a.b2"},
		{"example.com1", "example.com1"},
		{"a.1-2", "a.1-2"},
		{label63 + ".com", label63 + ".com"},
		{name253, name253},
		{name253 + ".", name253},
		{"", ""},
		{".", ""},
		{"..", ""},
		{"a..b", ""},
		{".a.b", ""},
		{"example.com..", ""},
		{"-a.b", ""},
		{"a-.b", ""},
		{"a.b-", ""},
		{"a.-b", ""},
		{"a b.c", ""},
		{"a/b.c", ""},
		{"a*.example.com", ""},
		{"*.example.com", ""},
		{"ü.com", ""},
		{"例子.cn", ""},
		{"a%2e.com", ""},
		{strings.Repeat("a", 64) + ".com", ""},
		{name253 + "b", ""},
		{strings.Repeat("a.", 127) + "ab", ""},
		{"1.2.3.4", ""},
		{"1.2.3.4.", ""},
		{"a.123", ""},
		{"123", ""},
		{"::1", ""},
		{"[::1]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := CanonicalName(tt.in)
			if got != tt.want || (err == nil) != (tt.want != "") {
				t.Errorf("CanonicalName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if err != nil && err != ErrInvalidName {
				t.Errorf("error %v, want ErrInvalidName", err)
			}
			if ValidName(tt.in) != (tt.want != "") {
				t.Errorf("ValidName(%q) = %v, want %v", tt.in, !(tt.want != ""), tt.want != "")
			}
		})
	}
}

// TestCanonicalNameAllocs pins what keeps a cache-hit Resolve within its allocation budget: a
// lower-case name is returned as is.
func TestCanonicalNameAllocs(t *testing.T) {
	for _, name := range []string{"api.example.com", "api.example.com."} {
		if n := testing.AllocsPerRun(100, func() { _, _ = CanonicalName(name) }); n != 0 {
			t.Errorf("CanonicalName(%q): %v allocations, want 0", name, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = ValidName("API.example.com") }); n != 0 {
		t.Errorf("ValidName: %v allocations, want 0", n)
	}
}

// FuzzCanonicalName checks the grammar against the rules spelled out independently, and that the
// canonical form is a fixpoint.
//
//	go test ./dnsmsg -run '^$' -fuzz FuzzCanonicalName -fuzztime 30s
func FuzzCanonicalName(f *testing.F) {
	for _, s := range []string{"api.example.com", "A.B.", "a..b", "1.2.3.4", "-a.com", "_x.y", "a.b.", "", "a.1-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := CanonicalName(s)
		if (err == nil) != oracleName(s) {
			t.Fatalf("CanonicalName(%q) = %q, %v; oracle says valid=%v", s, c, err, oracleName(s))
		}
		if ValidName(s) != (err == nil) {
			t.Fatalf("ValidName(%q) disagrees with CanonicalName", s)
		}
		if err != nil {
			return
		}
		if c != strings.ToLower(strings.TrimSuffix(s, ".")) {
			t.Fatalf("CanonicalName(%q) = %q", s, c)
		}
		if again, err := CanonicalName(c); err != nil || again != c {
			t.Fatalf("not a fixpoint: %q -> %q -> %q, %v", s, c, again, err)
		}
	})
}

// oracleName is the grammar written the slow, obvious way.
func oracleName(s string) bool {
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
