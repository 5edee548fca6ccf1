package dnsmsg

import (
	"errors"
	"strings"
)

// MaxNameLen is the longest host name in presentation form without the trailing dot (RFC 1035 §2.3.4:
// 255 octets on the wire are 253 characters of text).
const MaxNameLen = 253

// MaxLabelLen is the longest label (RFC 1035 §2.3.4).
const MaxLabelLen = 63

// ErrInvalidName reports a name outside the host-name grammar of [CanonicalName].
var ErrInvalidName = errors.New("invalid host name")

// CanonicalName validates a host name and returns it in lower case without a trailing dot: the one
// host-name grammar of the service, used by the HTTP API, the resolver and the prober's domain lists.
//
// A valid name has 1..253 characters (one trailing dot allowed and dropped), labels of 1..63 ASCII
// letters, digits, '-' or '_' (underscores for service names such as _dmarc) that neither start nor end
// with '-', and a top-level label that is not all digits, so no IPv4 literal passes (IPv6 literals fail
// on their colons). Internationalised names must come in their A-label form (xn--...).
//
// It allocates only when the name has upper case, so a lower-case name costs nothing on the hot path.
func CanonicalName(name string) (string, error) {
	name = strings.TrimSuffix(name, ".")
	upper, ok := scanName(name)
	if !ok {
		return "", ErrInvalidName
	}
	if upper {
		name = strings.ToLower(name)
	}
	return name, nil
}

// ValidName reports whether name follows the grammar of [CanonicalName]. It never allocates.
func ValidName(name string) bool {
	_, ok := scanName(strings.TrimSuffix(name, "."))
	return ok
}

// scanName checks name (without its trailing dot) against the grammar and reports whether it has
// upper-case letters.
func scanName(name string) (upper, ok bool) {
	if len(name) == 0 || len(name) > MaxNameLen {
		return false, false
	}
	labelLen := 0
	digits := true // the current label is all digits so far
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if labelLen == 0 || name[i-1] == '-' {
				return false, false
			}
			labelLen, digits = 0, true
			continue
		case c >= '0' && c <= '9':
		case c == '-':
			if labelLen == 0 {
				return false, false
			}
			digits = false
		case c >= 'A' && c <= 'Z':
			upper, digits = true, false
		case c >= 'a' && c <= 'z', c == '_':
			digits = false
		default:
			return false, false
		}
		labelLen++
		if labelLen > MaxLabelLen {
			return false, false
		}
	}
	if name[len(name)-1] == '-' || digits {
		return false, false
	}
	return upper, true
}
