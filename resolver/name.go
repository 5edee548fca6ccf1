package resolver

import "strings"

// CanonicalName validates a host name and returns it in lower case without a trailing dot.
// A valid name has 1..253 characters, labels of 1..63 letters, digits, '-' or '_' that neither
// start nor end with '-', and a top-level label that is not all digits (so no IPv4 literal passes;
// IPv6 literals fail on their colons). It allocates only when the name has upper case.
func CanonicalName(name string) (string, error) {
	name = strings.TrimSuffix(name, ".")
	if len(name) == 0 || len(name) > 253 {
		return "", ErrInvalidName
	}
	upper := false
	labelLen := 0
	digits := true // the current label is all digits so far
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if labelLen == 0 || name[i-1] == '-' {
				return "", ErrInvalidName
			}
			labelLen, digits = 0, true
			continue
		case c == '-':
			if labelLen == 0 {
				return "", ErrInvalidName
			}
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= '0' && c <= '9':
			labelLen++
			if labelLen > 63 {
				return "", ErrInvalidName
			}
			continue
		case c >= 'a' && c <= 'z', c == '_':
		default:
			return "", ErrInvalidName
		}
		digits = false
		labelLen++
		if labelLen > 63 {
			return "", ErrInvalidName
		}
	}
	if name[len(name)-1] == '-' || digits {
		return "", ErrInvalidName
	}
	if upper {
		name = strings.ToLower(name)
	}
	return name, nil
}
