package resolver

import (
	"errors"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/cache"
)

func TestParsePolicyLookup(t *testing.T) {
	t.Parallel()
	text := `# priority domains
api.example.com   subnet  active
*.img.example.com subnet
*.example.com     cityisp passive   # everything else under example.com
static.example.com global
Video.Example.COM. subnet passive
`
	p, err := ParsePolicy([]byte(text), cache.TierCityISP)
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 5 {
		t.Errorf("Len = %d, want 5", p.Len())
	}
	tests := []struct {
		name    string
		tier    cache.Tier
		refresh Refresh
		pattern string
	}{
		{"api.example.com", cache.TierSubnet, RefreshActive, "api.example.com"},
		{"a.img.example.com", cache.TierSubnet, RefreshPassive, "*.img.example.com"},
		{"a.b.img.example.com", cache.TierSubnet, RefreshPassive, "*.img.example.com"},
		{"img.example.com", cache.TierCityISP, RefreshPassive, "*.example.com"},
		{"www.example.com", cache.TierCityISP, RefreshPassive, "*.example.com"},
		{"static.example.com", cache.TierGlobal, RefreshPassive, "static.example.com"},
		{"video.example.com", cache.TierSubnet, RefreshPassive, "video.example.com"},
		{"example.com", cache.TierCityISP, RefreshPassive, ""},
		{"other.org", cache.TierCityISP, RefreshPassive, ""},
		{"com", cache.TierCityISP, RefreshPassive, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := p.Lookup(tt.name)
			if got.Tier != tt.tier || got.Refresh != tt.refresh || got.Pattern != tt.pattern {
				t.Errorf("Lookup(%q) = %+v, want tier %v refresh %v pattern %q", tt.name, got, tt.tier, tt.refresh, tt.pattern)
			}
		})
	}
}

func TestParsePolicyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		line int
		want string
	}{
		{"one field", "ok.com subnet\napi.example.com\n", 2, "domain tier"},
		{"four fields", "api.example.com subnet active extra", 1, "domain tier"},
		{"bad tier", "\n\napi.example.com fast", 3, "tier"},
		{"bad refresh", "api.example.com subnet sometimes", 1, "active or passive"},
		{"bad domain", "api..example.com subnet", 1, "invalid domain"},
		{"ip literal", "1.2.3.4 subnet", 1, "invalid domain"},
		{"bad wildcard", "*.*.example.com subnet", 1, "invalid domain"},
		{"duplicate", "a.com subnet\nA.com. global", 2, "first on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParsePolicy([]byte(tt.text), cache.TierCityISP)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if pe.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v (line %d), want line %d containing %q", err, pe.Line, tt.line, tt.want)
			}
		})
	}
}

func TestParsePolicyReportsEveryBadLine(t *testing.T) {
	t.Parallel()
	_, err := ParsePolicy([]byte("a.com fast\nb.com subnet\nc.com slow\n"), cache.TierCityISP)
	for _, want := range []string{"line 1", "line 3"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %s", err, want)
		}
	}
}

func TestParsePolicyEmpty(t *testing.T) {
	t.Parallel()
	p, err := ParsePolicy([]byte("# nothing here\n\n   \n"), cache.TierSubnet)
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Lookup("x.com"); r.Tier != cache.TierSubnet || r.Pattern != "" {
		t.Errorf("default rule = %+v", r)
	}
}

// FuzzParsePolicy checks that no input panics and that every accepted whitelist, written back out
// rule by rule, parses to a policy that answers every one of its patterns the same way.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("api.example.com subnet active\n*.example.com cityisp\n# c\n"))
	f.Add([]byte("a.b global passive # x"))
	f.Add([]byte("*.x subnet\n\x00"))
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := ParsePolicy(text, cache.TierCityISP)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		var b strings.Builder
		rules := make([]Rule, 0, p.Len())
		for _, r := range p.exact {
			rules = append(rules, r)
		}
		for _, r := range p.wildcard {
			rules = append(rules, r)
		}
		for _, r := range rules {
			b.WriteString(r.Pattern + " " + r.Tier.String() + " " + r.Refresh.String() + "\n")
		}
		p2, err := ParsePolicy([]byte(b.String()), cache.TierCityISP)
		if err != nil {
			t.Fatalf("reparsing %q: %v", b.String(), err)
		}
		for _, r := range rules {
			probe := strings.TrimPrefix(r.Pattern, "*.")
			if strings.HasPrefix(r.Pattern, "*.") {
				probe = "x." + probe
			}
			if p.Lookup(probe) != p2.Lookup(probe) {
				t.Fatalf("Lookup(%q) differs after round trip", probe)
			}
		}
	})
}
