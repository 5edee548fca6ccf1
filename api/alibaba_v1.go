package api

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/httpdns/httpdns/resolver"
)

// The Alibaba Cloud HTTPDNS v1 door (docs/design.md §10.3): /{account}/ss, /{account}/d,
// /{account}/resolve, /{account}/sign_d and /{account}/sign_resolve. The resolve paths answer as /d
// and /resolve do (the same shapes, which are Alibaba's); the door adds the account, the signature
// and Alibaba's batch limit of 5.

// Error codes of the Alibaba doors (docs/design.md §10.3); all 403, which no SDK retries.
const (
	// CodeInvalidAccount (403): the path's account id names no account with Alibaba settings.
	CodeInvalidAccount = "InvalidAccount"
	// CodeUnsignedInterfaceDisabled (403): the account is signed_only and the request used /d or /resolve.
	CodeUnsignedInterfaceDisabled = "UnsignedInterfaceDisabled"
	// CodeSignatureExpired (403): the signature's expiry t has passed.
	CodeSignatureExpired = "SignatureExpired"
	// CodeInvalidDuration (403): the signature's expiry t is more than 24 h ahead.
	CodeInvalidDuration = "InvalidDuration"
	// CodeInvalidSignature (403): s does not match, or the account has no secret to check it with.
	CodeInvalidSignature = "InvalidSignature"
)

const (
	// alibabaBatchLimit is the most hosts /{account}/resolve takes (Alibaba's documented limit; the
	// Go SDK checks it too).
	alibabaBatchLimit = 5
	// maxSignatureValidity is the longest a signature may be valid ahead (Alibaba's documented 24 h).
	maxSignatureValidity = 24 * time.Hour
	// signatureSkew is the clock difference allowed on top of maxSignatureValidity.
	signatureSkew = 5 * time.Minute
)

// The endpoint labels of the v1 door.
const (
	epAliSS      endpoint = "alibaba_ss"
	epAliD       endpoint = "alibaba_d"
	epAliResolve endpoint = "alibaba_resolve"
)

func errInvalidAccount() *apiError {
	return &apiError{status: http.StatusForbidden, code: CodeInvalidAccount, msg: "no such account"}
}

// errUnsignedDisabled refuses an unsigned request of a signed-only account; hint says how to sign
// on the door asked.
func errUnsignedDisabled(hint string) *apiError {
	return &apiError{status: http.StatusForbidden, code: CodeUnsignedInterfaceDisabled,
		msg: "this account accepts signed requests only: " + hint}
}

func errSignatureExpired() *apiError {
	return &apiError{status: http.StatusForbidden, code: CodeSignatureExpired, msg: "the signature has expired"}
}

// errInvalidDuration refuses an expiry (param: t for v1, exp for v2) more than 24 h ahead.
func errInvalidDuration(param string) *apiError {
	return &apiError{status: http.StatusForbidden, code: CodeInvalidDuration,
		msg: "the signature's expiry " + param + " is more than 24h ahead"}
}

func errInvalidSignature() *apiError {
	return &apiError{status: http.StatusForbidden, code: CodeInvalidSignature, msg: "the signature does not match"}
}

// aliV1Op is the operation of a /{account}/{op} request.
type aliV1Op struct {
	batch  bool
	signed bool
}

// aliV1Mux dispatches /{account}/{op} to the v1 operations, each with its own endpoint label. Any
// other second segment is 404 NotFound.
func (a *API) aliV1Mux() http.Handler {
	ss := a.route(epAliSS, false, a.handleAliSS, http.MethodGet, http.MethodHead)
	d := a.route(epAliD, false, a.aliV1(aliV1Op{}), http.MethodGet, http.MethodHead)
	signD := a.route(epAliD, false, a.aliV1(aliV1Op{signed: true}), http.MethodGet, http.MethodHead)
	res := a.route(epAliResolve, false, a.aliV1(aliV1Op{batch: true}), http.MethodGet, http.MethodHead)
	signRes := a.route(epAliResolve, false, a.aliV1(aliV1Op{batch: true, signed: true}), http.MethodGet, http.MethodHead)
	other := a.route(epOther, false, a.handleNotFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("op") {
		case "ss":
			ss.ServeHTTP(w, r)
		case "d":
			d.ServeHTTP(w, r)
		case "sign_d":
			signD.ServeHTTP(w, r)
		case "resolve":
			res.ServeHTTP(w, r)
		case "sign_resolve":
			signRes.ServeHTTP(w, r)
		default:
			other.ServeHTTP(w, r)
		}
	})
}

// aliAccount returns the request's account if it has Alibaba settings; nil and the error otherwise.
func (a *API) aliAccount(r *http.Request) (*accountState, error) {
	acc := a.accounts.lookup(r.PathValue("account"))
	if acc == nil || acc.Alibaba == nil {
		return nil, errInvalidAccount()
	}
	return acc, nil
}

// handleAliSS serves GET /{account}/ss, service discovery: the addresses SDKs send their lookups to.
//
//	{"service_ip":["192.0.2.10:8080"],"service_ipv6":["[2001:db8::10]:8080"],"service_status":"enable"}
//
// The Go SDK requires service_ip not empty; with no service_ips configured the address the client
// reached us at (the Host header) is advertised.
func (a *API) handleAliSS(w http.ResponseWriter, r *http.Request) {
	if _, err := a.aliAccount(r); err != nil {
		a.writeError(w, r, err)
		return
	}
	v4, v6 := a.serviceIPs4, a.serviceIPs6
	if len(v4) == 0 && len(v6) == 0 {
		if serviceIsIPv6(r.Host) {
			v6 = []string{r.Host}
		} else {
			v4 = []string{r.Host}
		}
	}
	buf := a.getBuf()
	b := append(*buf, `{"service_ip":`...)
	b = appendStrings(b, v4)
	b = append(b, `,"service_ipv6":`...)
	b = appendStrings(b, v6)
	b = append(b, `,"service_status":"enable"}`+"\n"...)
	a.writeJSON(w, http.StatusOK, b)
	a.putBuf(buf, b)
}

// splitServiceIPs sorts the configured service addresses into IPv4 and IPv6 ones, by the address
// before any port: "[2001:db8::1]:80" and "2001:db8::1" are IPv6, "192.0.2.1:80" and names IPv4.
func splitServiceIPs(list []string) (v4, v6 []string) {
	for _, s := range list {
		if serviceIsIPv6(s) {
			v6 = append(v6, s)
		} else {
			v4 = append(v4, s)
		}
	}
	return v4, v6
}

func serviceIsIPv6(s string) bool {
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Is6() && !addr.Is4In6()
}

func appendStrings(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// aliV1 returns the handler of one v1 resolve operation. Checks run in this order: account,
// host present, signature (or signed_only), then the host, query and client as /d and /resolve
// check them. Unknown parameters (sdk, sid, net, platform, sdk_version, region, sdns-*) are ignored.
func (a *API) aliV1(op aliV1Op) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		acc, err := a.aliAccount(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		p := parseParams(r.URL.RawQuery)
		if p.host.val == "" && !p.host.bad {
			a.writeError(w, r, errMissingArgument("host"))
			return
		}
		if op.signed {
			err = a.checkV1Signature(acc, p.host.val, r.URL.RawQuery)
		} else if acc.Alibaba.SignedOnly {
			err = errUnsignedDisabled("use sign_d or sign_resolve")
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if op.batch {
			a.aliV1Batch(w, r, p)
			return
		}
		a.aliV1Single(w, r, p)
	}
}

// checkV1Signature checks t (an expiry, unix seconds) and s = hex(MD5(host + "-" + secret + "-" + t))
// (docs/design.md §10.3). host is the host parameter as sent (the comma list of a batch, in its order).
func (a *API) checkV1Signature(acc *accountState, host, rawQuery string) error {
	t, s := firstParam(rawQuery, "t"), firstParam(rawQuery, "s")
	switch {
	case t.val == "" && !t.bad:
		return errMissingArgument("t")
	case s.val == "" && !s.bad:
		return errMissingArgument("s")
	case acc.Alibaba.Secret == "" || t.bad || s.bad:
		return errInvalidSignature()
	}
	exp, err := strconv.ParseInt(t.val, 10, 64)
	if err != nil {
		return errInvalidSignature()
	}
	now := a.now().Unix()
	switch {
	case exp < now:
		return errSignatureExpired()
	case exp > now+int64((maxSignatureValidity+signatureSkew)/time.Second):
		return errInvalidDuration("t")
	}
	sum := md5.Sum([]byte(host + "-" + acc.Alibaba.Secret + "-" + t.val))
	var want [2 * md5.Size]byte
	hex.Encode(want[:], sum[:])
	if len(s.val) != len(want) || subtle.ConstantTimeCompare([]byte(strings.ToLower(s.val)), want[:]) != 1 {
		return errInvalidSignature()
	}
	return nil
}

// aliV1Single answers /{account}/d and /sign_d as /d answers.
func (a *API) aliV1Single(w http.ResponseWriter, r *http.Request, p params) {
	if n := strings.Count(p.host.val, ",") + 1; n > 1 {
		a.writeError(w, r, errTooManyHosts(n, 1)) // Alibaba's answer to a batch on the single API
		return
	}
	a.answerD(w, r, p, true)
}

// appendAliV1D appends the v1 single answer: /d's, except that ips is present only when IPv4 was
// asked and ipsv6 only when IPv6 was, as Alibaba answers (the C SDK makes a record of each array
// present, so an empty ipsv6 would be an empty AAAA record).
func appendAliV1D(b []byte, host string, client netip.Addr, fams families, a4, a6 *resolver.Answer) []byte {
	b = append(b, `{"host":`...)
	b = appendJSONString(b, host)
	b = append(b, `,"client_ip":"`...)
	b = client.AppendTo(b)
	b = append(b, '"')
	if fams.has(resolver.TypeA) {
		b = append(b, `,"ips":`...)
		b = appendIPs(b, a4.IPs)
	}
	if fams.has(resolver.TypeAAAA) {
		b = append(b, `,"ipsv6":`...)
		b = appendIPs(b, a6.IPs)
	}
	ttl, origin, scope := dTTL(fams, a4, a6)
	b = appendKeyUint(b, "ttl", ttl)
	b = appendKeyUint(b, "origin_ttl", origin)
	if scope != "" {
		b = appendKeyString(b, "scope", scope)
	}
	return append(b, "}\n"...)
}

// aliV1Batch answers /{account}/resolve and /sign_resolve as /resolve answers, at most 5 hosts:
// one entry per host and family, type 1 or 28, addresses in ips; IPv4 only without query=.
func (a *API) aliV1Batch(w http.ResponseWriter, r *http.Request, p params) {
	if n := strings.Count(p.host.val, ",") + 1; n > alibabaBatchLimit {
		a.writeError(w, r, errTooManyHosts(n, alibabaBatchLimit))
		return
	}
	a.answerBatch(w, r, p)
}
