package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// jsonParams are the query parameters of the Google and Cloudflare JSON doors; the first occurrence
// of each counts, others (random_padding, ...) are ignored.
type jsonParams struct {
	name, qtype, cd, do, ct, ecs param
}

func parseJSONParams(raw string) jsonParams {
	var p jsonParams
	for raw != "" {
		var key, val string
		var ok bool
		if key, val, raw, ok = nextParam(raw); !ok {
			continue
		}
		switch key {
		case "name":
			p.name.take(val)
		case "type":
			p.qtype.take(val)
		case "cd":
			p.cd.take(val)
		case "do":
			p.do.take(val)
		case "ct":
			p.ct.take(val)
		case "edns_client_subnet":
			p.ecs.take(val)
		}
	}
	return p
}

// handleDNSJSON serves the Google JSON API (GET /resolve?name=&type=) and Cloudflare's dns-json
// (GET /dns-query?name=&type= with Accept: application/dns-json): the same question and answer as
// RFC 8484, written as JSON with each record's data in presentation format. ct=application/dns-message
// asks for the wire format instead, as Google's service allows.
func (a *API) handleDNSJSON(w http.ResponseWriter, r *http.Request) {
	p := parseJSONParams(r.URL.RawQuery)
	q, err := jsonQuery(p)
	if err != nil {
		a.writeJSONDNSError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	res, err := a.answerDNS(ctx, r, &q)
	if err != nil {
		a.writeJSONDNSError(w, r, err)
		return
	}
	if p.ct.val == "application/dns-message" {
		a.writeWire(w, r, &q, &res)
		return
	}
	buf := a.getBuf()
	b := appendJSONReply(*buf, &res)
	h := w.Header()
	h["Content-Type"] = jsonDNSContentType(r)
	h["Cache-Control"] = cacheControl(res.maxAge)
	_, _ = w.Write(b)
	a.putBuf(buf, b)
}

// jsonQuery checks the parameters: name (1–253 characters, trailing dot optional, labels 1–63, RFC
// 4343 escapes allowed), type (a number 1–65535 or a mnemonic, case-insensitive; default A), cd and
// do (1/true/0/false/empty), edns_client_subnet (addr/prefix or a bare address; 0.0.0.0/0: no ECS).
func jsonQuery(p jsonParams) (dnsQuery, error) {
	switch {
	case !p.name.set || (p.name.val == "" && !p.name.bad):
		return dnsQuery{}, errMissingArgument("name")
	case p.name.bad || !validJSONName(p.name.val):
		return dnsQuery{}, errInvalidHost(p.name.val)
	}
	q := dnsQuery{name: dns.Fqdn(p.name.val), qtype: dns.TypeA, qclass: dns.ClassINET, rd: true}
	if p.qtype.val != "" || p.qtype.bad {
		t, ok := parseType(p.qtype.val)
		if p.qtype.bad || !ok {
			return dnsQuery{}, &apiError{status: http.StatusBadRequest, code: CodeInvalidType,
				msg: "invalid type " + quoteEcho(p.qtype.val) + ": want a number 1-65535 or a type mnemonic"}
		}
		q.qtype = t
	}
	var ok bool
	if q.cd, ok = parseFlag(p.cd); !ok {
		return dnsQuery{}, &apiError{status: http.StatusBadRequest, code: "InvalidArgument",
			msg: "invalid cd " + quoteEcho(p.cd.val) + ": want 1, true, 0 or false"}
	}
	if q.do, ok = parseFlag(p.do); !ok {
		return dnsQuery{}, &apiError{status: http.StatusBadRequest, code: "InvalidArgument",
			msg: "invalid do " + quoteEcho(p.do.val) + ": want 1, true, 0 or false"}
	}
	if p.ecs.val != "" || p.ecs.bad {
		subnet, ok := parseSubnet(p.ecs.val)
		if p.ecs.bad || !ok {
			return dnsQuery{}, &apiError{status: http.StatusBadRequest, code: CodeInvalidSubnet,
				msg: "invalid edns_client_subnet " + quoteEcho(p.ecs.val) + ": want addr/prefix"}
		}
		q.ecs, q.hasECS = subnet, true
	}
	return q, nil
}

// validJSONName is Google's name rule: at most 253 characters without the trailing dot, labels of
// 1–63 octets, escapes per RFC 4343 (dns.IsDomainName). The root "." is a name too.
func validJSONName(s string) bool {
	if s == "." {
		return true
	}
	if len(strings.TrimSuffix(s, ".")) > 253 || strings.HasPrefix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	_, ok := dns.IsDomainName(s)
	return ok
}

// parseType reads a type by number (1–65535), mnemonic (case-insensitive) or RFC 3597 TYPEnnn.
func parseType(s string) (uint16, bool) {
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return uint16(n), n > 0
	}
	u := strings.ToUpper(s)
	if t, ok := dns.StringToType[u]; ok && t != dns.TypeNone {
		return t, true
	}
	if rest, ok := strings.CutPrefix(u, "TYPE"); ok {
		if n, err := strconv.ParseUint(rest, 10, 16); err == nil && n > 0 {
			return uint16(n), true
		}
	}
	return 0, false
}

// parseFlag reads cd= or do=: absent or empty, 0, false: false; 1, true: true.
func parseFlag(p param) (bool, bool) {
	switch strings.ToLower(p.val) {
	case "", "0", "false":
		return false, !p.bad
	case "1", "true":
		return true, !p.bad
	}
	return false, false
}

// parseSubnet reads edns_client_subnet: addr/prefix, or a bare address as a full-length prefix.
func parseSubnet(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p, true
	}
	if addr, err := netip.ParseAddr(s); err == nil && addr.Zone() == "" {
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), true
	}
	return netip.Prefix{}, false
}

// appendJSONReply appends the Google/Cloudflare JSON answer:
//
//	{"Status":0,"TC":false,"RD":true,"RA":true,"AD":false,"CD":false,
//	 "Question":[{"name":"example.com.","type":1}],
//	 "Answer":[{"name":"example.com.","type":1,"TTL":300,"data":"93.184.216.34"}],
//	 "edns_client_subnet":"1.2.3.0/24"}
//
// Answer, Authority and Additional appear when they have records; edns_client_subnet when the
// client sent one, as addr/scope.
func appendJSONReply(b []byte, res *dnsResult) []byte {
	m := res.msg
	b = append(b, `{"Status":`...)
	b = strconv.AppendInt(b, int64(m.Rcode), 10)
	b = appendKeyBool(b, "TC", m.Truncated)
	b = appendKeyBool(b, "RD", m.RecursionDesired)
	b = appendKeyBool(b, "RA", m.RecursionAvailable)
	b = appendKeyBool(b, "AD", m.AuthenticatedData)
	b = appendKeyBool(b, "CD", m.CheckingDisabled)
	b = append(b, `,"Question":[`...)
	for i, q := range m.Question {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, q.Name)
		b = appendKeyUint(b, "type", uint32(q.Qtype))
		b = append(b, '}')
	}
	b = append(b, ']')
	b = appendJSONRRs(b, "Answer", m.Answer)
	b = appendJSONRRs(b, "Authority", m.Ns)
	b = appendJSONRRs(b, "Additional", m.Extra)
	if res.ecs.IsValid() {
		b = append(b, `,"edns_client_subnet":"`...)
		b = res.ecs.Addr().AppendTo(b)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(max(res.scope, 0)), 10)
		b = append(b, '"')
	}
	return append(b, "}\n"...)
}

func appendKeyBool(b []byte, key string, v bool) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendBool(b, v)
}

// appendJSONRRs appends ,"key":[...] for rrs other than OPT, if any, each record's data in zone-file
// presentation format (miekg's String without the header), which m13253's client parses back as
// "name TTL IN TYPE data".
func appendJSONRRs(b []byte, key string, rrs []dns.RR) []byte {
	n := 0
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeOPT {
			continue
		}
		if n == 0 {
			b = append(b, ',', '"')
			b = append(b, key...)
			b = append(b, `":[`...)
		} else {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"name":`...)
		b = appendJSONString(b, h.Name)
		b = appendKeyUint(b, "type", uint32(h.Rrtype))
		b = appendKeyUint(b, "TTL", h.Ttl)
		b = append(b, `,"data":`...)
		switch rr := rr.(type) {
		case *dns.A:
			b = append(b, '"')
			b = append(b, rr.A.String()...)
			b = append(b, '"')
		case *dns.AAAA:
			b = append(b, '"')
			b = append(b, rr.AAAA.String()...)
			b = append(b, '"')
		default:
			b = appendJSONString(b, strings.TrimPrefix(rr.String(), h.String()))
		}
		b = append(b, '}')
	}
	if n > 0 {
		b = append(b, ']')
	}
	return b
}

// jsonDNSContentType is application/dns-json when the client asked for it (Cloudflare), otherwise
// application/json (Google).
func jsonDNSContentType(r *http.Request) []string {
	for _, v := range r.Header["Accept"] {
		if strings.Contains(v, "application/dns-json") {
			return []string{"application/dns-json"}
		}
	}
	return []string{"application/json; charset=UTF-8"}
}

// writeJSONDNSError is the JSON doors' error mapper: the status of classify and a body that both
// Google's clients and ours read, {"Status":rcode,"Comment":message,"code":code} (Status 1 FORMERR for a
// bad request, 2 SERVFAIL otherwise), as application/json (m13253's client reads no other error body).
func (a *API) writeJSONDNSError(w http.ResponseWriter, r *http.Request, err error) {
	e := a.classify(r, err)
	a.metrics.countError(e.code)
	if e.allow != "" {
		w.Header().Set("Allow", e.allow)
	}
	rcode := dns.RcodeServerFailure
	if e.status >= 400 && e.status < 500 {
		rcode = dns.RcodeFormatError
	}
	body, _ := json.Marshal(struct {
		Status  int    `json:"Status"`
		Comment string `json:"Comment"`
		Code    string `json:"code"`
	}{rcode, e.msg, e.code})
	a.writeJSON(w, e.status, append(body, '\n'))
}
