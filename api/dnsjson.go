package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
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
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		key, val, _ := strings.Cut(pair, "=")
		if needsUnescape(key) {
			k, err := url.QueryUnescape(key)
			if err != nil {
				continue
			}
			key = k
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
	body, err := json.Marshal(toJSONReply(&res))
	if err != nil {
		a.writeJSONDNSError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", jsonDNSContentType(r))
	h.Set("Cache-Control", "max-age="+strconv.FormatUint(uint64(res.maxAge), 10))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
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

// jsonReply is the Google/Cloudflare JSON answer.
type jsonReply struct {
	Status     int            `json:"Status"`
	TC         bool           `json:"TC"`
	RD         bool           `json:"RD"`
	RA         bool           `json:"RA"`
	AD         bool           `json:"AD"`
	CD         bool           `json:"CD"`
	Question   []jsonQuestion `json:"Question"`
	Answer     []jsonRR       `json:"Answer,omitempty"`
	Authority  []jsonRR       `json:"Authority,omitempty"`
	Additional []jsonRR       `json:"Additional,omitempty"`
	ECS        string         `json:"edns_client_subnet,omitempty"`
}

type jsonQuestion struct {
	Name string `json:"name"`
	Type uint16 `json:"type"`
}

type jsonRR struct {
	Name string `json:"name"`
	Type uint16 `json:"type"`
	TTL  uint32 `json:"TTL"`
	Data string `json:"data"`
}

func toJSONReply(res *dnsResult) *jsonReply {
	m := res.msg
	out := &jsonReply{Status: m.Rcode, TC: m.Truncated, RD: m.RecursionDesired, RA: m.RecursionAvailable,
		AD: m.AuthenticatedData, CD: m.CheckingDisabled}
	for _, q := range m.Question {
		out.Question = append(out.Question, jsonQuestion{Name: q.Name, Type: q.Qtype})
	}
	out.Answer = jsonRRs(m.Answer)
	out.Authority = jsonRRs(m.Ns)
	out.Additional = jsonRRs(m.Extra)
	if res.ecs.IsValid() {
		out.ECS = res.ecs.Addr().String() + "/" + strconv.Itoa(max(res.scope, 0))
	}
	return out
}

// jsonRRs writes records with their data in zone-file presentation format (miekg's String without
// the header), which m13253's client parses back as "name TTL IN TYPE data".
func jsonRRs(rrs []dns.RR) []jsonRR {
	var out []jsonRR
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeOPT {
			continue
		}
		data := strings.TrimPrefix(rr.String(), h.String())
		out = append(out, jsonRR{Name: h.Name, Type: h.Rrtype, TTL: h.Ttl, Data: data})
	}
	return out
}

// jsonDNSContentType is application/dns-json when the client asked for it (Cloudflare), otherwise
// application/json (Google).
func jsonDNSContentType(r *http.Request) string {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(v, "application/dns-json") {
			return "application/dns-json"
		}
	}
	return "application/json; charset=UTF-8"
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
