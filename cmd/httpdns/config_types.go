package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in the config as a Go duration string: "800ms", "30s",
// "24h", "1h30m". A bare number is an error, since its unit would be a guess.
type Duration time.Duration

// UnmarshalYAML parses a duration string with time.ParseDuration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	const want = "a duration such as 800ms, 30s or 24h"
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, want, nil)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return nodeError(n, want, nil)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as time.Duration.String does ("1h0m0s"), which parses back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// ByteSize is a number of bytes, written in the config as an integer or as an integer with a
// unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), in any
// case, e.g. "256MiB", "1GiB", "512MB".
type ByteSize int64

// UnmarshalYAML parses a YAML integer or a size string.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	const want = "a size such as 268435456, 256MiB or 1GiB"
	if n.Kind != yaml.ScalarNode {
		return nodeError(n, want, nil)
	}
	if n.ShortTag() == "!!int" {
		var v int64
		if err := n.Decode(&v); err != nil {
			return nodeError(n, want, errors.New("number out of range"))
		}
		*b = ByteSize(v)
		return nil
	}
	v, err := parseByteSize(n.Value)
	if err != nil {
		return nodeError(n, want, err)
	}
	*b = ByteSize(v)
	return nil
}

// MarshalYAML writes the size as a plain integer number of bytes.
func (b ByteSize) MarshalYAML() (any, error) { return int64(b), nil }

// String formats the size with the largest binary unit that divides it exactly.
func (b ByteSize) String() string {
	for _, u := range []struct {
		name  string
		shift uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if b != 0 && b%(1<<u.shift) == 0 {
			return strconv.FormatInt(int64(b>>u.shift), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// parseByteSize parses digits followed by an optional unit, optionally separated by spaces.
func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	if i == 0 {
		return 0, errors.New("no number")
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, errors.New("number out of range")
	}
	mult, ok := unitBytes(strings.TrimSpace(s[i:]))
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", strings.TrimSpace(s[i:]))
	}
	if n > math.MaxInt64/mult {
		return 0, errors.New("number out of range")
	}
	return n * mult, nil
}

// unitBytes returns how many bytes one unit is.
func unitBytes(unit string) (int64, bool) {
	switch strings.ToLower(unit) {
	case "", "b":
		return 1, true
	case "kb":
		return 1e3, true
	case "mb":
		return 1e6, true
	case "gb":
		return 1e9, true
	case "tb":
		return 1e12, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	}
	return 0, false
}

// nodeError reports a value that is not what (e.g. "a duration such as 30s") the way the YAML
// decoder reports its own type errors, so the decoder gathers it with the others and
// keyIndex.explain can name its key. why, if not nil, says what exactly is wrong.
func nodeError(n *yaml.Node, what string, why error) error {
	var msg string
	switch n.Kind {
	case yaml.ScalarNode:
		msg = fmt.Sprintf("line %d: %q is not %s", n.Line, n.Value, what)
	case yaml.SequenceNode:
		msg = fmt.Sprintf("line %d: must be %s, not a list", n.Line, what)
	case yaml.MappingNode:
		msg = fmt.Sprintf("line %d: must be %s, not a mapping", n.Line, what)
	default:
		msg = fmt.Sprintf("line %d: must be %s", n.Line, what)
	}
	if why != nil {
		msg += ": " + why.Error()
	}
	return &yaml.TypeError{Errors: []string{msg}}
}
