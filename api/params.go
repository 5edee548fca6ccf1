package api

import (
	"net/url"
	"strings"

	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/httpdns/httpdns/resolver"
)

// param is one query parameter's value.
type param struct {
	val string
	set bool // the parameter is present, perhaps empty
	bad bool // its percent-encoding is malformed; val is the raw text
}

// params are the query parameters the public endpoints read. Others are ignored.
type params struct {
	host, ip, query param
}

// parseParams reads the raw query string once, without building a url.Values map: the values are
// slices of raw unless they need unescaping. The first occurrence of a parameter wins, as with
// url.Values.Get. A pair whose key can't be unescaped is ignored like any unknown parameter.
func parseParams(raw string) params {
	var p params
	for raw != "" {
		var key, val string
		var ok bool
		if key, val, raw, ok = nextParam(raw); !ok {
			continue
		}
		switch key {
		case "host":
			p.host.take(val)
		case "ip":
			p.ip.take(val)
		case "query":
			p.query.take(val)
		}
	}
	return p
}

// nextParam cuts the first key=value pair off raw: key unescaped, val as sent (param.take unescapes
// it), rest what follows. ok is false for a pair whose key cannot be unescaped, which callers skip
// like any unknown parameter.
func nextParam(raw string) (key, val, rest string, ok bool) {
	var pair string
	pair, rest, _ = strings.Cut(raw, "&")
	key, val, _ = strings.Cut(pair, "=")
	if needsUnescape(key) {
		k, err := url.QueryUnescape(key)
		if err != nil {
			return "", "", rest, false
		}
		key = k
	}
	return key, val, rest, true
}

// firstParam is the first value of key in a raw query string.
func firstParam(raw, key string) param {
	var p param
	for raw != "" {
		k, val, rest, ok := nextParam(raw)
		raw = rest
		if ok && k == key {
			p.take(val)
			return p
		}
	}
	return p
}

func (p *param) take(raw string) {
	if p.set {
		return
	}
	p.set, p.val = true, raw
	if needsUnescape(raw) {
		v, err := url.QueryUnescape(raw)
		if err != nil {
			p.bad = true
			return
		}
		p.val = v
	}
}

func needsUnescape(s string) bool {
	return strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0
}

// families are the query types a request asks for, in the order it names them.
type families struct {
	qtypes [2]uint16
	n      int
}

func (f families) list() []uint16 { return f.qtypes[:f.n] }

func (f families) has(qtype uint16) bool {
	return f.qtypes[0] == qtype || (f.n == 2 && f.qtypes[1] == qtype)
}

// parseFamilies reads query=: 4 (the default, also when empty), 6, 4,6 or 6,4.
func parseFamilies(q param) (families, error) {
	if q.bad {
		return families{}, errInvalidQuery(q.val)
	}
	switch q.val {
	case "", "4":
		return families{qtypes: [2]uint16{resolver.TypeA}, n: 1}, nil
	case "6":
		return families{qtypes: [2]uint16{resolver.TypeAAAA}, n: 1}, nil
	case "4,6":
		return families{qtypes: [2]uint16{resolver.TypeA, resolver.TypeAAAA}, n: 2}, nil
	case "6,4":
		return families{qtypes: [2]uint16{resolver.TypeAAAA, resolver.TypeA}, n: 2}, nil
	}
	return families{}, errInvalidQuery(q.val)
}

// singleHost is /d's host=: present, well encoded and a valid host name.
func singleHost(h param) (string, error) {
	switch {
	case h.val == "" && !h.bad:
		return "", errMissingArgument("host")
	case h.bad || !validHost(h.val):
		return "", errInvalidHost(h.val)
	}
	return h.val, nil
}

// validHost reports whether s is a DNS host name the service resolves, by the service's one
// host-name grammar (dnsmsg.ValidName, the grammar resolver.CanonicalName applies): at most 253
// characters (one trailing dot allowed), labels of 1–63 letters, digits, hyphens and underscores
// (underscores for service names such as _dmarc) that neither start nor end with a hyphen, and a
// top-level label that is not all digits, which also rules out IPv4 literals (IPv6 ones fail on the
// colon).
func validHost(s string) bool {
	return dnsmsg.ValidName(s)
}

// canonicalHost is the form two spellings of one name share, for deduplicating a batch.
func canonicalHost(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}
