package api

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	buf := a.getBuf()
	body := (*buf)[:0]
	failed := 0
	for i, name := range q.names {
		a4, a6, err := a.resolveFamilies(ctx, resolver.Query{Name: name, Client: client}, fams)
		if err != nil {
			failed++
		}
		if i > 0 {
			body = append(body, '\n')
		}
		if q.prefix || len(q.names) > 1 {
			body = append(body, name...)
			body = append(body, ".:"...)
		}
		body = appendDNSPodBody(body, q, fams, &a4, &a6)
		if q.clientIP {
			body = append(body, '|')
			if cip != "" {
				body = append(body, cip...)
			} else if client.IsValid() {
				body = client.AppendTo(body)
			}
		}
	}
	if failed == len(q.names) {
		a.putBuf(buf, body)
		a.writeDNSPodError(w, r, http.StatusServiceUnavailable)
		return
	}
	if q.cipher != nil {
		ebuf := a.getBuf()
		enc := q.cipher.appendEncrypt((*ebuf)[:0], body)
		a.putBuf(buf, body)
		a.writeDNSPodText(w, http.StatusOK, enc)
		a.putBuf(ebuf, enc)
		return
	}
	a.writeDNSPodText(w, http.StatusOK, body)
	a.putBuf(buf, body)
}

// appendDNSPodBody appends one name's answer: its addresses (or "0"), with ",TTL" when asked.
func appendDNSPodBody(b []byte, q dnspodRequest, fams families, a4, a6 *resolver.Answer) []byte {
	first := a4
	if fams.qtypes[0] == resolver.TypeAAAA {
		first = a6
	}
	b = appendDNSPodFamily(b, q.ttl, first)
	if fams.n == 2 {
		b = append(b, '-')
		b = appendDNSPodFamily(b, q.ttl, a6)
	}
	return b
}

func appendDNSPodFamily(b []byte, ttl bool, ans *resolver.Answer) []byte {
	if len(ans.IPs) == 0 {
		b = append(b, '0')
	}
	for i, ip := range ans.IPs {
		if i > 0 {
			b = append(b, ';')
		}
		b = ip.AppendTo(b)
	}
	if ttl {
		b = append(b, ',')
		b = strconv.AppendUint(b, uint64(ans.TTL), 10)
	}
	return b
}

// parseDNSPod reads and checks a DNSPod query; a status other than 200 is the error to answer.
func (a *API) parseDNSPod(r *http.Request) (dnspodRequest, int) {
	v, ok := scanDNSPodQuery(r.URL.RawQuery)
	if !ok {
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

// dnspodValues are the parameters DNSPod's doors read; the first of each name counts.
type dnspodValues struct {
	set                                                 uint16 // bit i: key i was given
	dn, id, alg, token, ip, ttl, clientip, query, qtype string
}

var dnspodKeys = [...]string{"dn", "id", "alg", "token", "ip", "ttl", "clientip", "query", "type"}

// scanDNSPodQuery reads a query string in one pass without a map; a value that does not unescape
// makes it unusable (ok false).
func scanDNSPodQuery(raw string) (dnspodValues, bool) {
	var v dnspodValues
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, val, _ := strings.Cut(kv, "=")
		if strings.ContainsAny(val, "%+") {
			u, err := url.QueryUnescape(val)
			if err != nil {
				return v, false
			}
			val = u
		}
		for i, name := range dnspodKeys {
			if k == name && v.set&(1<<i) == 0 {
				v.set |= 1 << i
				*v.field(i) = val
			}
		}
	}
	return v, true
}

func (v *dnspodValues) field(i int) *string {
	return [...]*string{&v.dn, &v.id, &v.alg, &v.token, &v.ip, &v.ttl, &v.clientip, &v.query, &v.qtype}[i]
}

// Get returns the value of key, "" when absent.
func (v dnspodValues) Get(key string) string {
	for i, name := range dnspodKeys {
		if key == name {
			return *v.field(i)
		}
	}
	return ""
}

// Has reports whether key was given.
func (v dnspodValues) Has(key string) bool {
	for i, name := range dnspodKeys {
		if key == name {
			return v.set&(1<<i) != 0
		}
	}
	return false
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
	var k dnspodCipherKey
	switch strings.ToLower(alg) {
	case "", "des":
		k = dnspodCipherKey{aes: false, text: keys.DES}
	case "aes":
		k = dnspodCipherKey{aes: true, text: keys.AES}
	default:
		return nil, http.StatusBadRequest
	}
	if k.text == "" {
		return nil, http.StatusUnauthorized
	}
	c, err := a.dnspodCiphers.get(k)
	if err != nil {
		return nil, http.StatusInternalServerError
	}
	return c, http.StatusOK
}

// dnspodCipherKey names a cipher: the algorithm and the key text.
type dnspodCipherKey struct {
	aes  bool
	text string
}

// dnspodCiphers keeps the ciphers made from account keys, so a request does not set up its key
// schedule again. It is bounded: past dnspodMaxCiphers (keys replaced many times over) it starts over.
type dnspodCiphers struct {
	mu sync.Mutex
	m  map[dnspodCipherKey]dnspodCipher
}

const dnspodMaxCiphers = 4096

func (cs *dnspodCiphers) get(k dnspodCipherKey) (dnspodCipher, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.m[k]; ok {
		return c, nil
	}
	var c dnspodCipher
	var err error
	if k.aes {
		c, err = newAESCBC(aesKey(k.text))
	} else {
		c, err = newDESECB(desKey(k.text))
	}
	if err != nil {
		return nil, err
	}
	if cs.m == nil || len(cs.m) >= dnspodMaxCiphers {
		cs.m = make(map[dnspodCipherKey]dnspodCipher)
	}
	cs.m[k] = c
	return c, nil
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
	v, ok := scanDNSPodQuery(r.URL.RawQuery)
	if !ok {
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
	a.writeDNSPodText(w, http.StatusOK, []byte(out))
}

// writeDNSPodText writes a text answer with its Content-Length.
func (a *API) writeDNSPodText(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	_, _ = w.Write(body)
}

// textPlain is the Content-Type of DNSPod's answers; never modified.
var textPlain = []string{"text/plain; charset=utf-8"}

// writeDNSPodError answers an error the way DNSPod's SDKs read one: only the status matters (they
// fall back to LocalDNS on anything but 200; 401 clears an optimistic cache), so the body is the
// status text.
func (a *API) writeDNSPodError(w http.ResponseWriter, r *http.Request, status int) {
	a.metrics.errors.WithLabelValues("DNSPod" + strconv.Itoa(status)).Inc()
	a.writeDNSPodText(w, status, []byte(http.StatusText(status)))
}
