package resolver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/httpdns/httpdns/cache"
)

// Refresh is how a name's cached answers are kept fresh.
type Refresh uint8

// Refresh modes of a whitelist rule.
const (
	// RefreshPassive refreshes an answer when a client asks for it near or after its expiry.
	RefreshPassive Refresh = iota
	// RefreshActive refreshes hot answers in the background before they expire.
	RefreshActive
)

func (r Refresh) String() string {
	if r == RefreshActive {
		return "active"
	}
	return "passive"
}

// Rule is the policy for one name: its cache tier and refresh mode.
type Rule struct {
	// Pattern is the whitelist pattern that matched ("api.example.com", "*.example.com"), "" for the default.
	Pattern string
	Tier    cache.Tier
	Refresh Refresh
}

// Policy maps names to rules: an exact name first, then the longest matching "*.suffix" wildcard, then the
// default tier. A Policy is immutable once parsed.
type Policy struct {
	exact    map[string]Rule
	wildcard map[string]Rule // keyed by the suffix without "*."
	def      Rule
}

// maxRules bounds the size of one whitelist so an upload cannot exhaust memory.
const maxRules = 1_000_000

var (
	errRuleFields   = errors.New(`want "domain tier [refresh]"`)
	errRuleDomain   = errors.New("invalid domain")
	errRuleRefresh  = errors.New("refresh must be active or passive")
	errRuleTooMany  = fmt.Errorf("more than %d rules", maxRules)
	errRuleDupFirst = errors.New("duplicate rule")
)

// ParsePolicy reads a whitelist: one rule a line, "domain tier [refresh]", "#" starts a comment,
// "*.example.com" matches every name under example.com (not example.com itself). Tier is
// subnet|cityisp|global, refresh active|passive (default passive). Names not matched get def.
// Every bad line is reported (as a *ParseError, joined), so an operator can fix an upload in one go.
func ParsePolicy(text []byte, def cache.Tier) (*Policy, error) {
	p := &Policy{
		exact:    make(map[string]Rule),
		wildcard: make(map[string]Rule),
		def:      Rule{Tier: def, Refresh: RefreshPassive},
	}
	seen := make(map[string]int)
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Text()
		rule, ok, err := parseRule(raw)
		if err == nil && ok && len(seen) >= maxRules {
			err = errRuleTooMany
		}
		if err == nil && ok {
			if first, dup := seen[rule.Pattern]; dup {
				err = fmt.Errorf("%w: first on line %d", errRuleDupFirst, first)
			}
		}
		if err != nil {
			errs = append(errs, &ParseError{Line: line, Text: raw, Err: err})
			if len(errs) >= 20 {
				break
			}
			continue
		}
		if !ok {
			continue
		}
		seen[rule.Pattern] = line
		p.add(rule)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, &ParseError{Line: line + 1, Err: err})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func (p *Policy) add(r Rule) {
	if suffix, ok := strings.CutPrefix(r.Pattern, "*."); ok {
		p.wildcard[suffix] = r
		return
	}
	p.exact[r.Pattern] = r
}

// parseRule parses one line; ok is false for blank and comment lines.
func parseRule(raw string) (Rule, bool, error) {
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	fields := strings.Fields(raw)
	if len(fields) == 0 {
		return Rule{}, false, nil
	}
	if len(fields) > 3 || len(fields) < 2 {
		return Rule{}, false, errRuleFields
	}
	pattern := strings.TrimSuffix(strings.ToLower(fields[0]), ".")
	name, _ := strings.CutPrefix(pattern, "*.")
	if _, err := CanonicalName(name); err != nil {
		return Rule{}, false, fmt.Errorf("%w %q", errRuleDomain, fields[0])
	}
	tier, err := cache.ParseTier(fields[1])
	if err != nil {
		return Rule{}, false, err
	}
	rule := Rule{Pattern: pattern, Tier: tier}
	if len(fields) == 3 {
		switch fields[2] {
		case "active":
			rule.Refresh = RefreshActive
		case "passive":
		default:
			return Rule{}, false, errRuleRefresh
		}
	}
	return rule, true, nil
}

// Lookup returns the rule for a canonical name. It takes no lock and allocates nothing.
func (p *Policy) Lookup(name string) Rule {
	if r, ok := p.exact[name]; ok {
		return r
	}
	// Walk the suffixes from the longest: a.b.example.com tries b.example.com, example.com, com.
	for i := strings.IndexByte(name, '.'); i >= 0; {
		suffix := name[i+1:]
		if r, ok := p.wildcard[suffix]; ok {
			return r
		}
		j := strings.IndexByte(suffix, '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return p.def
}

// Len is the number of rules.
func (p *Policy) Len() int { return len(p.exact) + len(p.wildcard) }
