package api

import (
	"net/http"
	"net/netip"
	"strconv"
	"unicode/utf8"
)

// The responses are appended by hand into pooled buffers: the shapes are fixed and small, and
// reflection-based encoding would cost the cache-hit /d more than everything else it does.

// maxPooledBuf is the largest buffer returned to the pool; bigger ones (rare batch answers) are dropped.
const maxPooledBuf = 64 << 10

const hexDigits = "0123456789abcdef"

func (a *API) getBuf() *[]byte { return a.bufs.Get().(*[]byte) }

// putBuf returns buf to the pool holding b, the slice last appended to it, emptied.
func (a *API) putBuf(buf *[]byte, b []byte) {
	if cap(b) > maxPooledBuf {
		return
	}
	*buf = b[:0]
	a.bufs.Put(buf)
}

// writeJSON sends body as a JSON response with status. A failed write means the client has gone:
// there is no one left to tell.
func (a *API) writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = a.ctJSON
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	_, _ = w.Write(body)
}

// appendJSONString appends s as a JSON string. It escapes exactly as encoding/json does with HTML
// escaping off: quote, backslash and control characters, U+2028 and U+2029 (which break JavaScript),
// and every byte of invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscapedASCII(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendEscapedASCII(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// appendIPs appends addrs as a JSON array of strings; none is [] (never null: SDKs index it).
func appendIPs(b []byte, addrs []netip.Addr) []byte {
	b = append(b, '[')
	for i, ip := range addrs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = ip.AppendTo(b)
		b = append(b, '"')
	}
	return append(b, ']')
}

// appendKeyUint appends ,"key":n.
func appendKeyUint(b []byte, key string, n uint32) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, uint64(n), 10)
}

// appendKeyString appends ,"key":"s" with s escaped.
func appendKeyString(b []byte, key, s string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, s)
}
