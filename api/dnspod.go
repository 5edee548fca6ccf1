package api

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/httpdns/httpdns/resolver"
)

// The DNSPod (Tencent Cloud HTTPDNS) door: GET /d?dn=NAME[,NAME...] in its three modes (see
// docs/design.md and the README's "DNSPod" section):
//
//   - plain (the free endpoint's): dn in clear, no account;
//   - encrypted: id=ACCOUNT&alg=des|aes, dn (and ip, when not an address) as hex ciphertext, and the
//     whole answer encrypted the same way;
//   - HTTPS token: token=TOKEN, dn in clear.
//
// The answer is DNSPod's text grammar, written with a Content-Length (the Android SDK's own HTTP
// client cannot read a chunked body):
//
//	IP[;IP...][,TTL][|CLIENTIP]                          one name, A or AAAA
//	V4[;V4...],TTL4-V6[;V6...],TTL6[|CLIENTIP]           type=addrs
//	NAME.:BODY                                           a line each, with query=1 or several names
//
// A name without addresses gets the IP list "0", which every SDK's parser drops.

// The DNSPod endpoints' label values.
const (
	epDNSPod     endpoint = "dnspod"
	epDNSPodConf endpoint = "dnspod_conf"
)

// dnspodMaxNames is the most names one request may carry (DNSPod's documented limit).
const dnspodMaxNames = 8

// dnspodExpirySkew is how far past its expiry a `dn` carrying ";<expiry>" is still accepted: the
// iOS SDK stamps now + 600 s by its own (corrected) clock.
const dnspodExpirySkew = 10 * time.Minute

// DNSPodKeys are one DNSPod account's key texts; an empty one disables that algorithm.
type DNSPodKeys struct {
	DES string // alg=des: DES-ECB under the first 8 bytes
	AES string // alg=aes: AES-128-CBC under the text padded with '0' to 16 bytes
}

// DNSPodAccounts finds DNSPod accounts: the keys of an id, and whether a token is an account's.
type DNSPodAccounts interface {
	DNSPodKeys(id string) (DNSPodKeys, bool)
	DNSPodToken(token string) bool
}

// dnspodRequest is a parsed DNSPod query.
type dnspodRequest struct {
	names    []string
	qtype    string // "", "aaaa" or "addrs"
	ttl      bool
	clientIP bool
	prefix   bool // query=1: every line carries its name
	cipher   dnspodCipher
	ip       param // the ip= value, decrypted
}

// isDNSPod reports whether a /d query is DNSPod's (dn=) rather than ours (host=).
func isDNSPod(rawQuery string) bool {
	return strings.HasPrefix(rawQuery, "dn=") || strings.Contains(rawQuery, "&dn=")
}

// dispatchD serves /d: DNSPod's door for dn=, ours for everything else (host=).
func (a *API) dispatchD() http.Handler {
	ours := a.route(epD, false, a.handleD, http.MethodGet, http.MethodHead)
	dnspod := a.route(epDNSPod, false, a.handleDNSPod, http.MethodGet, http.MethodHead)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isDNSPod(r.URL.RawQuery) {
			dnspod.ServeHTTP(w, r)
			return
		}
		ours.ServeHTTP(w, r)
	})
}

func (a *API) handleDNSPod(w http.ResponseWriter, r *http.Request) {
	q, status := a.parseDNSPod(r)
	if status != http.StatusOK {
		a.writeDNSPodError(w, r, status)
		return
	}
	client, err := a.clientAddr(r, q.ip)
	if err != nil {
		a.writeDNSPodError(w, r, http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	fams := families{qtypes: [2]uint16{resolver.TypeA}, n: 1}
	switch q.qtype {
	case "aaaa":
		fams.qtypes[0] = resolver.TypeAAAA
	case "addrs":
		fams = families{qtypes: [2]uint16{resolver.TypeA, resolver.TypeAAAA}, n: 2}
	}
	cip := q.ip.val
	if cip == "" && client.IsValid() {
		cip = client.String()
	}
	var body strings.Builder
	failed := 0
	for i, name := range q.names {
		a4, a6, err := a.resolveFamilies(ctx, resolver.Query{Name: name, Client: client}, fams)
		if err != nil {
			failed++
		}
		if i > 0 {
			body.WriteByte('\n')
		}
		if q.prefix || len(q.names) > 1 {
			body.WriteString(name)
			body.WriteString(".:")
		}
		writeDNSPodBody(&body, q, fams, &a4, &a6)
		if q.clientIP {
			body.WriteByte('|')
			body.WriteString(cip)
		}
	}
	if failed == len(q.names) {
		a.writeDNSPodError(w, r, http.StatusServiceUnavailable)
		return
	}
	out := body.String()
	if q.cipher != nil {
		out = q.cipher.encrypt([]byte(out))
	}
	a.writeDNSPodText(w, http.StatusOK, out)
}

// writeDNSPodBody appends one name's answer: its addresses (or "0"), with ",TTL" when asked.
func writeDNSPodBody(b *strings.Builder, q dnspodRequest, fams families, a4, a6 *resolver.Answer) {
	first := a4
	if fams.qtypes[0] == resolver.TypeAAAA {
		first = a6
	}
	writeDNSPodFamily(b, q.ttl, first)
	if fams.n == 2 {
		b.WriteByte('-')
		writeDNSPodFamily(b, q.ttl, a6)
	}
}

func writeDNSPodFamily(b *strings.Builder, ttl bool, ans *resolver.Answer) {
	if len(ans.IPs) == 0 {
		b.WriteByte('0')
	}
	for i, ip := range ans.IPs {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(ip.String())
	}
	if ttl {
		b.WriteByte(',')
		b.WriteString(strconv.FormatUint(uint64(ans.TTL), 10))
	}
}

// parseDNSPod reads and checks a DNSPod query; a status other than 200 is the error to answer.
func (a *API) parseDNSPod(r *http.Request) (dnspodRequest, int) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return dnspodRequest{}, http.StatusBadRequest
	}
	q := dnspodRequest{ttl: v.Get("ttl") == "1", clientIP: v.Get("clientip") == "1", prefix: v.Get("query") == "1",
		qtype: strings.ToLower(v.Get("type")), ip: param{val: v.Get("ip")}}
	if q.qtype != "" && q.qtype != "aaaa" && q.qtype != "addrs" && q.qtype != "a" {
		return q, http.StatusBadRequest
	}
	if q.qtype == "a" {
		q.qtype = ""
	}
	dn := v.Get("dn")
	switch {
	case v.Has("token"):
		if a.dnspod == nil || !a.dnspod.DNSPodToken(v.Get("token")) {
			return q, http.StatusUnauthorized
		}
	case v.Has("id"):
		c, status := a.dnspodCipher(v.Get("id"), v.Get("alg"))
		if status != http.StatusOK {
			return q, status
		}
		plain, err := c.decrypt(dn)
		if err != nil {
			return q, http.StatusBadRequest
		}
		dn, q.cipher = string(plain), c
		if q.ip.val != "" {
			if _, err := netip.ParseAddr(q.ip.val); err != nil { // the docs encrypt ip; Android sends it clear
				p, err := c.decrypt(q.ip.val)
				if err != nil {
					return q, http.StatusBadRequest
				}
				q.ip.val = string(p)
			}
		}
	}
	names, status := dnspodNames(dn, time.Now())
	q.names = names
	return q, status
}

// dnspodCipher is the cipher of account id for alg (default des).
func (a *API) dnspodCipher(id, alg string) (dnspodCipher, int) {
	if a.dnspod == nil {
		return nil, http.StatusUnauthorized
	}
	keys, ok := a.dnspod.DNSPodKeys(id)
	if !ok {
		return nil, http.StatusUnauthorized
	}
	switch strings.ToLower(alg) {
	case "", "des":
		if keys.DES == "" {
			return nil, http.StatusUnauthorized
		}
		c, err := newDESECB(desKey(keys.DES))
		if err != nil {
			return nil, http.StatusInternalServerError
		}
		return c, http.StatusOK
	case "aes":
		if keys.AES == "" {
			return nil, http.StatusUnauthorized
		}
		c, err := newAESCBC(aesKey(keys.AES))
		if err != nil {
			return nil, http.StatusInternalServerError
		}
		return c, http.StatusOK
	}
	return nil, http.StatusBadRequest
}

// dnspodNames splits dn into canonical names, after stripping the optional ";<expiry>" suffix the iOS
// SDK adds (an expiry long past is refused as a replay).
func dnspodNames(dn string, now time.Time) ([]string, int) {
	if i := strings.LastIndexByte(dn, ';'); i >= 0 {
		exp, err := strconv.ParseInt(dn[i+1:], 10, 64)
		if err != nil {
			return nil, http.StatusBadRequest
		}
		if time.Unix(exp, 0).Add(dnspodExpirySkew).Before(now) {
			return nil, http.StatusUnauthorized
		}
		dn = dn[:i]
	}
	if dn == "" {
		return nil, http.StatusBadRequest
	}
	parts := strings.Split(dn, ",")
	if len(parts) > dnspodMaxNames {
		return nil, http.StatusBadRequest
	}
	names := make([]string, 0, len(parts))
	for _, p := range parts {
		name, err := resolver.CanonicalName(strings.TrimSpace(p))
		if err != nil {
			return nil, http.StatusBadRequest
		}
		names = append(names, name)
	}
	return names, http.StatusOK
}

// handleDNSPodConf serves GET /conf?id=&alg= (encrypted) or /conf?token= (clear): DNSPod's SDK
// configuration, "log:0|domain:0|ip:<service addresses>|ttl:<minutes>". The service address is the one
// the client reached: this node.
func (a *API) handleDNSPodConf(w http.ResponseWriter, r *http.Request) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		a.writeDNSPodError(w, r, http.StatusBadRequest)
		return
	}
	var c dnspodCipher
	switch {
	case v.Has("token"):
		if a.dnspod == nil || !a.dnspod.DNSPodToken(v.Get("token")) {
			a.writeDNSPodError(w, r, http.StatusUnauthorized)
			return
		}
	case v.Has("id"):
		var status int
		if c, status = a.dnspodCipher(v.Get("id"), v.Get("alg")); status != http.StatusOK {
			a.writeDNSPodError(w, r, status)
			return
		}
	default:
		a.writeDNSPodError(w, r, http.StatusBadRequest)
		return
	}
	ip := ""
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(interface{ String() string }); ok {
		if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
			ip = ap.Addr().Unmap().String()
		}
	}
	out := "log:0|domain:0|ip:" + ip + "|ttl:60"
	if c != nil {
		out = c.encrypt([]byte(out))
	}
	a.writeDNSPodText(w, http.StatusOK, out)
}

// writeDNSPodText writes a text answer with its Content-Length.
func (a *API) writeDNSPodText(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// writeDNSPodError answers an error the way DNSPod's SDKs read one: only the status matters (they
// fall back to LocalDNS on anything but 200; 401 clears an optimistic cache), so the body is the
// status text.
func (a *API) writeDNSPodError(w http.ResponseWriter, r *http.Request, status int) {
	a.metrics.errors.WithLabelValues("DNSPod" + strconv.Itoa(status)).Inc()
	a.writeDNSPodText(w, status, http.StatusText(status))
}
