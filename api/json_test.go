package api

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
)

// encodingJSON is the oracle: encoding/json's string encoding with HTML escaping off.
func encodingJSON(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"plain", "api.example.com", `"api.example.com"`},
		{"empty", "", `""`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"short escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"other controls", "\x00\x1f", `"\u0000\u001f"`},
		{"html kept", "<a&b>", `"<a&b>"`},
		{"utf-8 kept", "北京/联通", `"北京/联通"`},
		{"invalid utf-8", "a\xffb\xc3", `"a\ufffdb\ufffd"`},
		{"line separators", "a\u2028b\u2029", `"a\u2028b\u2029"`},
		{"DEL kept", "\x7f", "\"\x7f\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := appendJSONString(nil, tt.in)
			if string(got) != tt.want {
				t.Errorf("appendJSONString(%q) = %s, want %s", tt.in, got, tt.want)
			}
			if oracle := encodingJSON(t, tt.in); !bytes.Equal(got, oracle) {
				t.Errorf("appendJSONString(%q) = %s, encoding/json says %s", tt.in, got, oracle)
			}
		})
	}
}

// FuzzJSONString checks the hand-written escaping byte for byte against encoding/json.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"a", "\"\\", "\x00\n", "\xff\xfe", "\u2028", "北京", "\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString([]byte("x"), s)[1:]
		if want := encodingJSON(t, s); !bytes.Equal(got, want) {
			t.Errorf("appendJSONString(%q) = %s, encoding/json says %s", s, got, want)
		}
	})
}

func TestAppendIPs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []netip.Addr
		want string
	}{
		{"nil is an empty array", nil, `[]`},
		{"one", []netip.Addr{netip.MustParseAddr("192.0.2.1")}, `["192.0.2.1"]`},
		{"two", []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")},
			`["192.0.2.1","2001:db8::1"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(appendIPs(nil, tt.in)); got != tt.want {
				t.Errorf("appendIPs = %s, want %s", got, tt.want)
			}
		})
	}
}
