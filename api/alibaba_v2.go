package api

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/httpdns/httpdns/resolver"
)

// The Alibaba Cloud HTTPDNS v2 door (docs/design.md §10.3): GET /v2/d, single and batch on one path,
// signed with HMAC-SHA256 over the sorted non-empty fields, in plain (m=0), AES-128-CBC (m=1) or
// AES-128-GCM (m=2) mode, answered in the {code, mode, data} envelope.

// CodeInvalidArgument (400): a v2 parameter other than the host, query or client is malformed (m, exp,
// an enc that does not decrypt); the message says which.
const CodeInvalidArgument = "InvalidArgument"

const epAliV2 endpoint = "alibaba_v2"

// v2Signed are the parameters the v2 signature covers, besides every sdns-*.
var v2Signed = [...]string{"id", "m", "dn", "cip", "q", "enc", "exp", "tags", "v"}

func errInvalidArgument(name, why string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeInvalidArgument, msg: "invalid " + name + ": " + why}
}

// v2Request is what a /v2/d request asks, after decryption.
type v2Request struct {
	mode       int
	dn, q, cip string
	cipSet     bool
	acc        *accountState
}

// handleAliV2 serves GET /v2/d. Checks run in this order: id, account, m, signature (or
// signed_only), decryption, then dn (at most 5 names), q and the client (cip, as ip= on /d).
func (a *API) handleAliV2(w http.ResponseWriter, r *http.Request) {
	var v v2Values
	if err := v.parse(r.URL.RawQuery); err != nil {
		a.writeError(w, r, err)
		return
	}
	req, err := a.v2Parse(&v)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.dn == "" {
		a.writeError(w, r, errMissingArgument("dn"))
		return
	}
	if n := strings.Count(req.dn, ",") + 1; n > alibabaBatchLimit {
		a.writeError(w, r, errTooManyHosts(n, alibabaBatchLimit))
		return
	}
	hosts, err := a.batchHosts(param{val: req.dn, set: true})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	fams, err := parseFamilies(param{val: req.q, set: req.q != ""})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	client, err := a.clientAddr(r, param{val: req.cip, set: req.cipSet})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	jobs := make([]job, 0, len(hosts)*fams.n)
	for _, h := range hosts {
		for _, qt := range fams.list() {
			jobs = append(jobs, job{host: h, qtype: qt})
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	if len(jobs) == 1 { // the common single lookup: no goroutine
		j := &jobs[0]
		if j.ans, j.err = a.resolver.Resolve(ctx, resolver.Query{Name: j.host, Qtype: j.qtype, Client: client}); j.err != nil {
			j.ans = resolver.Answer{}
		}
	} else {
		a.runJobs(ctx, client, jobs)
	}
	if err := allFailed(jobs); err != nil {
		a.writeError(w, r, err)
		return
	}
	buf := a.getBuf()
	b := append(*buf, `{"code":"success","mode":"`...)
	b = strconv.AppendInt(b, int64(req.mode), 10)
	b = append(b, `","data":`...)
	if req.mode == 0 {
		b = appendV2Data(b, client, jobs)
	} else {
		sealed, err := v2Seal(req, appendV2Data(nil, client, jobs))
		if err != nil {
			a.putBuf(buf, b)
			a.writeError(w, r, err)
			return
		}
		b = append(b, '"')
		b = append(b, sealed...)
		b = append(b, '"')
	}
	b = append(b, "}\n"...)
	a.writeJSON(w, http.StatusOK, b)
	a.putBuf(buf, b)
}

// v2Values are a /v2/d query string's parameters, decoded, in order; the first of a repeated name
// counts, as with url.Values.Get. The parameters of real requests fit the array: no allocation.
type v2Values struct {
	arr [16]v2Pair
	kv  []v2Pair
}

type v2Pair struct{ k, v string }

func (q *v2Values) parse(raw string) error {
	q.kv = q.arr[:0]
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		var err error
		if needsUnescape(k) {
			if k, err = url.QueryUnescape(k); err != nil {
				return errInvalidArgument("query string", "malformed percent-encoding")
			}
		}
		if needsUnescape(v) {
			if v, err = url.QueryUnescape(v); err != nil {
				return errInvalidArgument(quoteEcho(k), "malformed percent-encoding")
			}
		}
		if _, ok := q.lookup(k); !ok {
			q.kv = append(q.kv, v2Pair{k, v})
		}
	}
	return nil
}

func (q *v2Values) lookup(k string) (string, bool) {
	for _, p := range q.kv {
		if p.k == k {
			return p.v, true
		}
	}
	return "", false
}

// Get is the value of k, "" when absent.
func (q *v2Values) Get(k string) string {
	v, _ := q.lookup(k)
	return v
}

// v2Parse reads the account, mode, signature and (encrypted or plain) fields of a /v2/d request.
func (a *API) v2Parse(v *v2Values) (*v2Request, error) {
	id := v.Get("id")
	if id == "" {
		return nil, errMissingArgument("id")
	}
	acc := a.accounts.lookup(id)
	if acc == nil || acc.Alibaba == nil {
		return nil, errInvalidAccount()
	}
	req := &v2Request{acc: acc}
	switch v.Get("m") {
	case "", "0":
	case "1":
		req.mode = 1
	case "2":
		req.mode = 2
	default:
		return nil, errInvalidArgument("m", "want 0, 1 or 2")
	}
	if s := v.Get("s"); s != "" {
		if err := a.checkV2Signature(acc, v, s); err != nil {
			return nil, err
		}
	} else if acc.Alibaba.SignedOnly {
		return nil, errUnsignedDisabled("sign with s and exp")
	}
	if cip, ok := v.lookup("cip"); ok {
		req.cip, req.cipSet = cip, true
	}
	if req.mode == 0 {
		req.dn, req.q = v.Get("dn"), v.Get("q")
		return req, nil
	}
	if acc.aesKey == nil {
		return nil, &apiError{status: http.StatusForbidden, code: CodeInvalidAccount, msg: "the account has no aes_key for encrypted requests"}
	}
	enc := v.Get("enc")
	if enc == "" {
		return nil, errMissingArgument("enc")
	}
	plain, err := v2Open(req.mode, acc.aesKey, enc)
	if err != nil {
		return nil, errInvalidArgument("enc", err.Error())
	}
	var fields map[string]any
	if err := json.Unmarshal(plain, &fields); err != nil {
		return nil, errInvalidArgument("enc", "the plaintext is not a JSON object")
	}
	str := func(k string) (string, bool) {
		s, ok := fields[k].(string)
		return s, ok
	}
	req.dn, _ = str("dn")
	req.q, _ = str("q")
	if cip, ok := str("cip"); ok {
		req.cip, req.cipSet = cip, true
	}
	return req, nil
}

// checkV2Signature checks exp (an expiry, as v1's t) and s = hex(HMAC-SHA256(hex-decoded secret,
// the sorted k=v pairs of the signed parameters that are present and non-empty, joined by &)).
func (a *API) checkV2Signature(acc *accountState, v *v2Values, s string) error {
	exp := v.Get("exp")
	if exp == "" {
		return errMissingArgument("exp")
	}
	if len(acc.hmacKey) == 0 {
		return errInvalidSignature()
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return errInvalidSignature()
	}
	if err := a.checkExpiry(t); err != nil {
		return err
	}
	var arr [16]v2Pair
	signed := arr[:0]
	for _, p := range v.kv {
		if p.v != "" && (slices.Contains(v2Signed[:], p.k) || strings.HasPrefix(p.k, "sdns-")) {
			signed = append(signed, p)
		}
	}
	slices.SortFunc(signed, func(x, y v2Pair) int { return strings.Compare(x.k, y.k) })
	mac := hmac.New(sha256.New, acc.hmacKey)
	var line []byte
	for i, p := range signed {
		line = line[:0]
		if i > 0 {
			line = append(line, '&')
		}
		line = append(append(append(line, p.k...), '='), p.v...)
		mac.Write(line)
	}
	var sum [sha256.Size]byte
	var want [2 * sha256.Size]byte
	hex.Encode(want[:], mac.Sum(sum[:0]))
	if len(s) != len(want) || !hmac.Equal([]byte(strings.ToLower(s)), want[:]) {
		return errInvalidSignature()
	}
	return nil
}

// checkExpiry applies the signature expiry rules of both API generations to t (unix seconds).
func (a *API) checkExpiry(t int64) error {
	now := a.now().Unix()
	switch {
	case t < now:
		return errSignatureExpired()
	case t > now+int64((maxSignatureValidity+signatureSkew).Seconds()):
		return errInvalidDuration("exp")
	}
	return nil
}

// v2Open decrypts enc, the lowercase hex of IV ‖ ciphertext: CBC with a 16-byte IV and PKCS#7
// padding (m=1), or GCM with a 12-byte IV and the 16-byte tag after the ciphertext (m=2).
func v2Open(mode int, key []byte, enc string) ([]byte, error) {
	raw, err := hex.DecodeString(enc)
	if err != nil {
		return nil, errors.New("not hex")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errors.New("bad key")
	}
	if mode == 2 {
		g, err := cipher.NewGCM(block)
		if err != nil || len(raw) < g.NonceSize()+g.Overhead() {
			return nil, errors.New("too short")
		}
		plain, err := g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], nil)
		if err != nil {
			return nil, errors.New("does not decrypt under the account's aes_key")
		}
		return plain, nil
	}
	bs := block.BlockSize()
	if len(raw) < 2*bs || len(raw)%bs != 0 {
		return nil, errors.New("not an IV and whole blocks")
	}
	plain := make([]byte, len(raw)-bs)
	cipher.NewCBCDecrypter(block, raw[:bs]).CryptBlocks(plain, raw[bs:])
	n := int(plain[len(plain)-1])
	if n == 0 || n > bs || !bytes.Equal(plain[len(plain)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, errors.New("does not decrypt under the account's aes_key")
	}
	return plain[:len(plain)-n], nil
}

// v2Seal encrypts data in the request's mode under the account's key and returns the standard
// base64 (with padding) of IV ‖ ciphertext, as the SDKs decrypt it.
func v2Seal(req *v2Request, data []byte) ([]byte, error) {
	block, err := aes.NewCipher(req.acc.aesKey)
	if err != nil {
		return nil, err
	}
	var out []byte
	if req.mode == 2 {
		g, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		out = make([]byte, g.NonceSize(), g.NonceSize()+len(data)+g.Overhead())
		if _, err := rand.Read(out); err != nil {
			return nil, err
		}
		out = g.Seal(out, out[:g.NonceSize()], data, nil)
	} else {
		bs := block.BlockSize()
		pad := bs - len(data)%bs
		plain := append(append(make([]byte, 0, len(data)+pad), data...), bytes.Repeat([]byte{byte(pad)}, pad)...)
		out = make([]byte, bs+len(plain))
		if _, err := rand.Read(out[:bs]); err != nil {
			return nil, err
		}
		cipher.NewCBCEncrypter(block, out[:bs]).CryptBlocks(out[bs:], plain)
	}
	return base64.StdEncoding.AppendEncode(nil, out), nil
}

// appendV2Data appends the data object: {"cip":…,"answers":[{"dn":…,"v4":{"ips":[…],"ttl":N},"v6":…}]}.
// A family asked for with no addresses carries no_ip_code (DomainNotExist for NXDOMAIN, else
// RRNotExist); a family whose resolution failed while others succeeded is left out, so no SDK caches
// it as empty.
func appendV2Data(b []byte, cip netip.Addr, jobs []job) []byte {
	b = append(b, `{"cip":"`...)
	b = cip.AppendTo(b)
	b = append(b, `","answers":[`...)
	for i := 0; i < len(jobs); {
		host := jobs[i].host
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"dn":`...)
		b = appendJSONString(b, host)
		for ; i < len(jobs) && jobs[i].host == host; i++ {
			j := &jobs[i]
			if j.err != nil {
				continue
			}
			if j.qtype == resolver.TypeAAAA {
				b = append(b, `,"v6":{"ips":`...)
			} else {
				b = append(b, `,"v4":{"ips":`...)
			}
			b = appendIPs(b, j.ans.IPs)
			b = appendKeyUint(b, "ttl", j.ans.TTL)
			if len(j.ans.IPs) == 0 {
				code := "RRNotExist"
				if j.ans.Rcode == 3 {
					code = "DomainNotExist"
				}
				b = appendKeyString(b, "no_ip_code", code)
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
