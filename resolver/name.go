package resolver

import "github.com/httpdns/httpdns/dnsmsg"

// CanonicalName validates a host name and returns it in lower case without a trailing dot, or
// ErrInvalidName. The grammar is the service's one host-name grammar, dnsmsg.CanonicalName: 1..253
// characters, labels of 1..63 letters, digits, '-' or '_' that neither start nor end with '-', and a
// top-level label that is not all digits. It allocates only when the name has upper case.
func CanonicalName(name string) (string, error) {
	c, err := dnsmsg.CanonicalName(name)
	if err != nil {
		return "", ErrInvalidName
	}
	return c, nil
}
