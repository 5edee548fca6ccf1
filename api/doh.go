package api

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/dnsmsg"
	"github.com/httpdns/httpdns/resolver"
)

// The endpoint labels of the DNS-message doors.
const (
	epDoH            endpoint = "dns_query"       // RFC 8484 GET and POST /dns-query
	epGoogleJSON     endpoint = "google_json"     // GET /resolve?name=
	epCloudflareJSON endpoint = "cloudflare_json" // GET /dns-query?name=
)

// MaxDNSMessageBytes is the largest RFC 8484 POST body read: the largest DNS message (RFC 1035 §4.2.2).
const MaxDNSMessageBytes = 65535

// Error codes of the DNS-message doors (see errors.go for the others).
const (
	// CodeInvalidDNSMessage (400): an RFC 8484 query is not base64url, does not parse, or is not a
	// query of exactly one question (QR set, an opcode other than QUERY, zero or several questions,
	// a malformed ECS option).
	CodeInvalidDNSMessage = "InvalidDNSMessage"
	// CodeUnsupportedMediaType (415): an RFC 8484 POST whose Content-Type is not application/dns-message.
	CodeUnsupportedMediaType = "UnsupportedMediaType"
	// CodeInvalidType (400): type= of a JSON door is neither a number 1–65535 nor a type mnemonic.
	CodeInvalidType = "InvalidType"
	// CodeInvalidSubnet (400): edns_client_subnet= is not an address or addr/prefix.
	CodeInvalidSubnet = "InvalidSubnet"
)

func errInvalidDNSMessage(why string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeInvalidDNSMessage, msg: why}
}

// Forwarder asks the recursive layer a question of any type, uncached; *resolver.Resolver satisfies
// it (see resolver.Forward). The DNS-message doors use it for every type but A and AAAA when the
// configured Resolver has it; without it they answer such questions SERVFAIL.
type Forwarder interface {
	Forward(ctx context.Context, q *dns.Msg, client netip.Prefix) (*dns.Msg, error)
}

// dnsQuery is one question of a DNS-message door, however it came (wire or JSON).
type dnsQuery struct {
	name   string // as asked, fully qualified
	qtype  uint16
	qclass uint16
	id     uint16
	rd, cd bool
	do     bool
	edns   bool         // the query had an OPT record (the reply gets one)
	ecs    netip.Prefix // the client-chosen subnet; valid when hasECS
	hasECS bool
}

// dnsResult is a door's answer: the reply and what the wire and JSON writers add to it.
type dnsResult struct {
	msg    *dns.Msg
	maxAge uint32       // Cache-Control max-age (RFC 8484 §5.1)
	ecs    netip.Prefix // the client's ECS source, masked; valid when the query had one
	scope  int          // our ECS scope for it
}

// chosenClient is the client a request names itself: the ECS option of an RFC 8484 query or
// Google's edns_client_subnet=. It is the one place where a DNS-message door takes a client-chosen
// subnet; dnsClient has asked the ip_param policy first. A /0 asks for no ECS and gives a /0.
func (a *API) chosenClient(_ *http.Request, subnet netip.Prefix) (netip.Prefix, error) {
	return subnet.Masked(), nil
}

// dnsClient is the client prefix a DNS-message query is answered for: the chosen subnet when it
// names one and limits.ip_param lets the request choose (a /0, which only asks for no ECS, always
// may), otherwise the connection's client (clientAddr) as a full-length prefix. An ignored subnet is
// counted and dropped from q, so that no ECS option is echoed (RFC 7871 §7.2.1: the answer is not
// for that subnet).
func (a *API) dnsClient(r *http.Request, q *dnsQuery) (netip.Prefix, error) {
	if q.hasECS && q.ecs.Bits() > 0 && !a.mayChoose(r) {
		a.limitMetrics.ipIgnored.Inc()
		q.ecs, q.hasECS = netip.Prefix{}, false
	}
	if q.hasECS {
		return a.chosenClient(r, q.ecs)
	}
	addr, err := a.clientAddr(r, param{})
	if err != nil || !addr.IsValid() {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// answerDNS answers q for every DNS-message door: A and AAAA of class IN through Resolve and the
// tiered cache, anything else (and a name Resolve finds no host name) through the Forwarder. An
// upstream failure is a SERVFAIL answer, not an HTTP error: RFC 8484 §4.2.1 carries every DNS
// response in a 2xx. Only a client that went away is an error.
func (a *API) answerDNS(ctx context.Context, r *http.Request, q *dnsQuery) (dnsResult, error) {
	client, err := a.dnsClient(r, q)
	if err != nil {
		return dnsResult{}, err
	}
	res := dnsResult{scope: -1}
	if q.hasECS {
		res.ecs = q.ecs.Masked()
	}
	reply := new(dns.Msg)
	reply.Response, reply.RecursionAvailable = true, true
	reply.Id, reply.RecursionDesired, reply.CheckingDisabled = q.id, q.rd, q.cd
	reply.Question = []dns.Question{{Name: q.name, Qtype: q.qtype, Qclass: q.qclass}}
	res.msg = reply

	if q.qclass == dns.ClassINET && (q.qtype == dns.TypeA || q.qtype == dns.TypeAAAA) {
		var addr netip.Addr
		if client.Bits() > 0 {
			addr = client.Masked().Addr()
			if client.Bits() == addr.BitLen() {
				addr = client.Addr()
			}
		}
		ans, err := a.resolver.Resolve(ctx, resolver.Query{Name: q.name, Qtype: q.qtype, Client: addr})
		switch {
		case err == nil:
			fillFromAnswer(&res, q, &ans)
			return res, nil
		case !errors.Is(err, resolver.ErrInvalidName):
			return a.servfail(r, res, err)
		}
		// Not a host name by our grammar (an all-digit top label, say): the recursive layer decides.
	}
	if a.forwarder == nil {
		return a.servfail(r, res, nil)
	}
	fq := new(dns.Msg)
	fq.Question = reply.Question
	fq.CheckingDisabled = q.cd
	if q.do {
		fq.SetEdns0(dnsmsg.UDPSize, true)
	}
	up, err := a.forwarder.Forward(ctx, fq, client)
	if err != nil {
		return a.servfail(r, res, err)
	}
	reply.Rcode, reply.Authoritative, reply.AuthenticatedData = up.Rcode, false, up.AuthenticatedData
	reply.Truncated = up.Truncated
	reply.Answer, reply.Ns = up.Answer, up.Ns
	for _, rr := range up.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			reply.Extra = append(reply.Extra, rr)
		}
	}
	if e := dnsmsg.ECS(up); e != nil {
		res.scope = int(e.SourceScope)
	} else {
		res.scope = 0
	}
	res.maxAge = maxAge(reply, 0)
	return res, nil
}

// fillFromAnswer builds the reply of an A or AAAA question from the resolver's Answer: one record a
// final address, owned by the name as asked, with the remaining TTL. The CNAME chain the resolver
// followed is not kept (Answer has only its end). The resolver keeps only a negative answer's TTL,
// not its SOA, so a negative answer carries a synthesized SOA (negativeSOA) whose TTL and MINIMUM are
// that remaining TTL: a client caching by RFC 2308 holds it exactly as long as we do. The ECS scope
// is the prefix length of the answer's cache key where it is a prefix (the block, or the CDN's finer
// scope), else the source's.
func fillFromAnswer(res *dnsResult, q *dnsQuery, ans *resolver.Answer) {
	res.msg.Rcode = ans.Rcode
	if len(ans.IPs) == 0 && (ans.Rcode == dns.RcodeSuccess || ans.Rcode == dns.RcodeNameError) {
		res.msg.Ns = []dns.RR{negativeSOA(q.name, ans.TTL)}
	}
	if n := len(ans.IPs); n > 0 { // one allocation each for the records, the slice and the addresses
		res.msg.Answer = make([]dns.RR, 0, n)
		hdr := dns.RR_Header{Name: q.name, Rrtype: q.qtype, Class: dns.ClassINET, Ttl: ans.TTL}
		if q.qtype == dns.TypeA {
			rrs, addrs := make([]dns.A, n), make([]byte, 0, 4*n)
			for i, ip := range ans.IPs {
				a4 := ip.Unmap().As4()
				addrs = append(addrs, a4[:]...)
				rrs[i] = dns.A{Hdr: hdr, A: addrs[4*i : 4*i+4 : 4*i+4]}
				res.msg.Answer = append(res.msg.Answer, &rrs[i])
			}
		} else {
			rrs, addrs := make([]dns.AAAA, n), make([]byte, 0, 16*n)
			for i, ip := range ans.IPs {
				a16 := ip.As16()
				addrs = append(addrs, a16[:]...)
				rrs[i] = dns.AAAA{Hdr: hdr, AAAA: addrs[16*i : 16*i+16 : 16*i+16]}
				res.msg.Answer = append(res.msg.Answer, &rrs[i])
			}
		}
	}
	res.maxAge = ans.TTL
	if p, err := netip.ParsePrefix(ans.Scope); err == nil {
		res.scope = p.Bits()
	} else if ans.Scope == "" { // the global tier: the same for every client
		res.scope = 0
	} else { // a city+ISP label: it holds for the source the client sent
		res.scope = res.ecs.Bits()
	}
}

// negativeSOA is the SOA of a negative answer served from the cache: owned by the question's name
// (an ancestor-or-self of it, as RFC 2308 §3 asks), with the remaining negative TTL as both its TTL
// and its MINIMUM; its servers are names under .invalid (RFC 6761), so nothing can mistake it for the
// zone's own.
func negativeSOA(name string, ttl uint32) *dns.SOA {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:  "ns.httpdns.invalid.", Mbox: "hostmaster.httpdns.invalid.",
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: ttl,
	}
}

// servfail turns a failed resolution into a SERVFAIL answer that no one caches, unless the client
// went away (then err is returned, answered 499 and counted).
func (a *API) servfail(r *http.Request, res dnsResult, err error) (dnsResult, error) {
	if err != nil && r.Context().Err() != nil {
		return dnsResult{}, err
	}
	if err != nil {
		a.metrics.countError(a.classifyQuiet(err))
	}
	res.msg.Rcode = dns.RcodeServerFailure
	res.maxAge, res.scope = 0, 0
	return res, nil
}

// classifyQuiet is the error code classify would give err, for counting a SERVFAIL answer's cause;
// an unknown error is logged as classify logs it.
func (a *API) classifyQuiet(err error) string {
	switch {
	case errors.Is(err, resolver.ErrUpstreamBusy):
		return CodeUpstreamBusy
	case errors.Is(err, resolver.ErrUpstreamUnavailable), errors.Is(err, context.DeadlineExceeded):
		return CodeUpstreamUnavailable
	}
	a.log.Error("answering a DNS-message query", "err", err)
	return CodeInternalError
}

// maxAge is the freshness lifetime of a reply (RFC 8484 §5.1): the smallest TTL of its answer
// section; with no answer, the SOA's negative TTL (RFC 2308 §5: the smaller of its TTL and MINIMUM),
// else def.
func maxAge(m *dns.Msg, def uint32) uint32 {
	if m.Rcode == dns.RcodeServerFailure {
		return 0
	}
	if len(m.Answer) > 0 {
		age := ^uint32(0)
		for _, rr := range m.Answer {
			age = min(age, rr.Header().Ttl)
		}
		return age
	}
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return def
}

// handleDoH serves RFC 8484: GET /dns-query?dns=<base64url> and POST /dns-query with an
// application/dns-message body. The reply echoes the query's ID and, when the query carried an ECS
// option, echoes it with our scope (RFC 7871 §7.2.1).
func (a *API) handleDoH(w http.ResponseWriter, r *http.Request) {
	wire, err := dohBody(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	q, err := parseDNSQuery(wire)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	res, err := a.answerDNS(ctx, r, &q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeWire(w, r, &q, &res)
}

// dohBody is the DNS message of an RFC 8484 request: dns= of a GET (base64url; padding tolerated),
// the body of a POST (at most MaxDNSMessageBytes, Content-Type application/dns-message).
func dohBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Method == http.MethodPost {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/dns-message" {
			return nil, &apiError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
				msg: "Content-Type " + quoteEcho(r.Header.Get("Content-Type")) + ": want application/dns-message"}
		}
		body, err := readBody(w, r)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, errInvalidDNSMessage("reading the body: " + err.Error())
		}
		return body, nil
	}
	v := firstParam(r.URL.RawQuery, "dns")
	if !v.set || v.val == "" {
		return nil, errMissingArgument("dns")
	}
	if v.bad {
		return nil, errInvalidDNSMessage("dns= is not base64url")
	}
	wire, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v.val, "="))
	if err != nil {
		return nil, errInvalidDNSMessage("dns= is not base64url without padding (RFC 8484 §4.1)")
	}
	return wire, nil
}

// readBody reads a POST body of at most MaxDNSMessageBytes: in one exact read when the length is
// announced, else through io.ReadAll.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, MaxDNSMessageBytes)
	if n := r.ContentLength; n > 0 && n <= MaxDNSMessageBytes {
		buf := make([]byte, n)
		if _, err := io.ReadFull(body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(body)
}

// parseDNSQuery unpacks and checks an RFC 8484 query: a QUERY of one question, QR clear, and at
// most a well-formed ECS option.
func parseDNSQuery(wire []byte) (dnsQuery, error) {
	var m dns.Msg
	if err := m.Unpack(wire); err != nil {
		return dnsQuery{}, errInvalidDNSMessage("not a DNS message: " + err.Error())
	}
	switch {
	case m.Response:
		return dnsQuery{}, errInvalidDNSMessage("the message is a response (QR set), not a query")
	case m.Opcode != dns.OpcodeQuery:
		return dnsQuery{}, errInvalidDNSMessage("opcode " + dns.OpcodeToString[m.Opcode] + ": only QUERY is answered")
	case len(m.Question) != 1:
		return dnsQuery{}, errInvalidDNSMessage(strconv.Itoa(len(m.Question)) + " questions: want exactly one")
	}
	qq := m.Question[0]
	q := dnsQuery{name: qq.Name, qtype: qq.Qtype, qclass: qq.Qclass, id: m.Id, rd: m.RecursionDesired,
		cd: m.CheckingDisabled}
	if opt := m.IsEdns0(); opt != nil {
		q.edns, q.do = true, opt.Do()
		if e := dnsmsg.ECS(&m); e != nil {
			p, ok := dnsmsg.ECSPrefix(e)
			if !ok {
				return dnsQuery{}, errInvalidDNSMessage("malformed ECS option (RFC 7871 §6)")
			}
			q.ecs, q.hasECS = p, true
		}
	}
	return q, nil
}

// writeWire answers with res as application/dns-message, with max-age per RFC 8484 §5.1.
func (a *API) writeWire(w http.ResponseWriter, r *http.Request, q *dnsQuery, res *dnsResult) {
	m := res.msg
	if q.edns || res.ecs.IsValid() {
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		opt.SetUDPSize(dnsmsg.UDPSize)
		if q.do {
			opt.SetDo()
		}
		if res.ecs.IsValid() {
			e := dnsmsg.ECSOption(res.ecs)
			e.SourceScope = uint8(max(res.scope, 0))
			opt.Option = append(opt.Option, e)
		}
		m.Extra = append(m.Extra, opt)
	}
	buf := a.getBuf()
	wire, err := m.PackBuffer((*buf)[:cap(*buf)])
	if err != nil { // records the upstream gave that miekg cannot pack again: SERVFAIL, never a 500
		a.log.WarnContext(r.Context(), "packing a DNS-message answer", "err", err)
		m.Rcode, m.Answer, m.Ns = dns.RcodeServerFailure, nil, nil
		m.Extra = slices.DeleteFunc(m.Extra, func(rr dns.RR) bool { return rr.Header().Rrtype != dns.TypeOPT })
		res.maxAge = 0
		if wire, err = m.PackBuffer((*buf)[:cap(*buf)]); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/dns-message"}
	h["Cache-Control"] = cacheControl(res.maxAge)
	_, _ = w.Write(wire) // net/http adds the Content-Length of a body this small
	a.putBuf(buf, wire[:0])
}

// cacheControl is the Cache-Control header value of an answer fresh for maxAge seconds.
func cacheControl(maxAge uint32) []string {
	return []string{"max-age=" + strconv.FormatUint(uint64(maxAge), 10)}
}

// dispatchDNSQuery routes /dns-query: GET with name= (and no dns=) is the Cloudflare JSON door,
// everything else RFC 8484. Each has its own endpoint label.
func (a *API) dispatchDNSQuery() http.Handler {
	doh := a.route(epDoH, false, a.handleDoH, http.MethodGet, http.MethodHead, http.MethodPost)
	cf := a.route(epCloudflareJSON, false, a.handleDNSJSON, http.MethodGet, http.MethodHead)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && firstParam(r.URL.RawQuery, "name").set && !firstParam(r.URL.RawQuery, "dns").set {
			cf.ServeHTTP(w, r)
			return
		}
		doh.ServeHTTP(w, r)
	})
}

// dispatchResolve routes /resolve: name= is the Google JSON door, anything else (host=) the batch API.
func (a *API) dispatchResolve() http.Handler {
	batch := a.route(epResolve, false, a.handleResolve, http.MethodGet, http.MethodHead)
	google := a.route(epGoogleJSON, false, a.handleDNSJSON, http.MethodGet, http.MethodHead)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if firstParam(r.URL.RawQuery, "name").set {
			google.ServeHTTP(w, r)
			return
		}
		batch.ServeHTTP(w, r)
	})
}
