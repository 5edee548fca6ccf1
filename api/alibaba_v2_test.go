package api

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/resolver"
)

const (
	v2Secret = "0123456789abcdef0123456789abcdef"
	v2AESKey = "00112233445566778899aabbccddeeff"
)

func v2Accounts() []Account {
	return []Account{
		{ID: "100000", Alibaba: &AlibabaAccount{Secret: v2Secret, AESKey: v2AESKey}},
		{ID: "100001", Alibaba: &AlibabaAccount{Secret: v2Secret, SignedOnly: true}},
		{ID: "100002", Alibaba: &AlibabaAccount{}},
		{ID: "100003", Alibaba: &AlibabaAccount{Secret: "IAmASecret"}},
	}
}

// v2Query builds a /v2/d query as the Android SDK does: the signed fields sorted, joined k=v with &,
// HMAC-SHA256 under the hex-decoded secret; sid and sdk alongside, unsigned.
func v2Query(fields map[string]string, secret string) string {
	var keys []string
	for k, v := range fields {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		pairs = append(pairs, k+"="+fields[k])
	}
	q := url.Values{}
	for k, v := range fields {
		q.Set(k, v)
	}
	if secret != "" {
		key, _ := hex.DecodeString(secret)
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(strings.Join(pairs, "&")))
		q.Set("s", hex.EncodeToString(mac.Sum(nil)))
	}
	q.Set("sid", "Ab3dEf6hIj9k")
	q.Set("sdk", "android_2.6.7")
	return q.Encode()
}

// v2Encrypt is the SDKs' request encryption: hex of IV ‖ ciphertext, CBC with PKCS#7 or GCM.
func v2Encrypt(t *testing.T, mode int, plain string) string {
	t.Helper()
	key, _ := hex.DecodeString(v2AESKey)
	block, _ := aes.NewCipher(key)
	if mode == 2 {
		g, _ := cipher.NewGCM(block)
		iv := []byte("0123456789ab")
		return hex.EncodeToString(g.Seal(append([]byte(nil), iv...), iv, []byte(plain), nil))
	}
	iv := []byte("0123456789abcdef")
	pad := 16 - len(plain)%16
	p := []byte(plain + strings.Repeat(string(rune(pad)), pad))
	out := make([]byte, 16+len(p))
	copy(out, iv)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out[16:], p)
	return hex.EncodeToString(out)
}

// v2Decrypt opens an encrypted data string as the SDKs do.
func v2Decrypt(t *testing.T, mode int, data string) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatalf("data is not standard base64: %v", err)
	}
	key, _ := hex.DecodeString(v2AESKey)
	block, _ := aes.NewCipher(key)
	if mode == 2 {
		g, _ := cipher.NewGCM(block)
		plain, err := g.Open(nil, raw[:12], raw[12:], nil)
		if err != nil {
			t.Fatalf("GCM: %v", err)
		}
		return plain
	}
	plain := make([]byte, len(raw)-16)
	cipher.NewCBCDecrypter(block, raw[:16]).CryptBlocks(plain, raw[16:])
	return plain[:len(plain)-int(plain[len(plain)-1])]
}

type v2Family struct {
	IPs      []string `json:"ips"`
	TTL      int      `json:"ttl"`
	NoIPCode string   `json:"no_ip_code"`
}

type v2Data struct {
	CIP     string `json:"cip"`
	Answers []struct {
		DN string    `json:"dn"`
		V4 *v2Family `json:"v4"`
		V6 *v2Family `json:"v6"`
	} `json:"answers"`
}

// v2Call sends a /v2/d query and returns the status, the envelope's code and mode, and data (decrypted).
func v2Call(t *testing.T, base, query string, mode int) (int, string, string, v2Data) {
	t.Helper()
	resp, err := http.Get(base + "/v2/d?" + query)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var env struct {
		Code string          `json:"code"`
		Mode string          `json:"mode"`
		Data json.RawMessage `json:"data"`
		Msg  string          `json:"message"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	var d v2Data
	if resp.StatusCode == 200 {
		raw := []byte(env.Data)
		if mode != 0 {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatalf("encrypted data is not a string: %s", body)
			}
			raw = v2Decrypt(t, mode, s)
		}
		decodeStrict(t, raw, &d)
	}
	return resp.StatusCode, env.Code, env.Mode, d
}

func TestAlibabaV2Modes(t *testing.T) {
	t.Parallel()
	_, base := startAliServer(t, Config{Accounts: v2Accounts()})
	exp := strconv.FormatInt(vectorNow.Unix()+600, 10)
	a4, a6 := fakeIPs("a.example", resolver.TypeA, "1.2.3.4"), fakeIPs("a.example", resolver.TypeAAAA, "1.2.3.4")
	b4 := fakeIPs("b.example", resolver.TypeA, "1.2.3.4")
	for _, tc := range []struct {
		name   string
		fields map[string]string
		secret string
		mode   int
	}{
		{"plain unsigned", map[string]string{"id": "100000", "dn": "a.example,b.example", "q": "4,6", "cip": "1.2.3.4", "exp": exp, "v": "1.0"}, "", 0},
		{"plain signed with sdns", map[string]string{"id": "100000", "m": "0", "dn": "a.example,b.example", "q": "4,6", "cip": "1.2.3.4", "exp": exp, "v": "1.0", "sdns-k1": "v1", "tags": ""}, v2Secret, 0},
		{"CBC signed", map[string]string{"id": "100000", "m": "1", "enc": v2Encrypt(t, 1, `{"dn":"a.example,b.example","q":"4,6","cip":"1.2.3.4"}`), "exp": exp, "v": "1.0"}, v2Secret, 1},
		{"GCM signed", map[string]string{"id": "100000", "m": "2", "enc": v2Encrypt(t, 2, `{"dn":"a.example,b.example","q":"4,6","cip":"1.2.3.4"}`), "exp": exp, "v": "1.0"}, v2Secret, 2},
		{"GCM unsigned", map[string]string{"id": "100000", "m": "2", "enc": v2Encrypt(t, 2, `{"dn":"a.example,b.example","q":"4,6","cip":"1.2.3.4"}`), "exp": exp}, "", 2},
		{"signed only, signed", map[string]string{"id": "100001", "dn": "a.example,b.example", "q": "4,6", "cip": "1.2.3.4", "exp": exp}, v2Secret, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, env, mode, d := v2Call(t, base, v2Query(tc.fields, tc.secret), tc.mode)
			if code != 200 || env != "success" || mode != strconv.Itoa(tc.mode) || d.CIP != "1.2.3.4" || len(d.Answers) != 2 {
				t.Fatalf("%d %s mode %s %+v", code, env, mode, d)
			}
			x, y := d.Answers[0], d.Answers[1]
			if x.DN != "a.example" || x.V4 == nil || x.V6 == nil || strings.Join(x.V4.IPs, " ") != strings.Join(a4, " ") ||
				strings.Join(x.V6.IPs, " ") != strings.Join(a6, " ") || x.V4.TTL <= 0 || x.V4.NoIPCode != "" {
				t.Errorf("first answer %+v %+v %+v", x, x.V4, x.V6)
			}
			if y.DN != "b.example" || y.V4 == nil || strings.Join(y.V4.IPs, " ") != strings.Join(b4, " ") {
				t.Errorf("second answer %+v", y)
			}
		})
	}
	t.Run("without q: IPv4 only; no addresses: no_ip_code", func(t *testing.T) {
		code, _, _, d := v2Call(t, base, v2Query(map[string]string{"id": "100000", "dn": "nx.example", "exp": exp}, ""), 0)
		if code != 200 || len(d.Answers) != 1 || d.Answers[0].V6 != nil || d.Answers[0].V4 == nil ||
			len(d.Answers[0].V4.IPs) != 0 || d.Answers[0].V4.IPs == nil || d.Answers[0].V4.NoIPCode != "RRNotExist" {
			t.Errorf("%d %+v", code, d)
		}
	})
	t.Run("client defaults to the peer", func(t *testing.T) {
		_, _, _, d := v2Call(t, base, v2Query(map[string]string{"id": "100000", "dn": "a.example"}, ""), 0)
		if d.CIP != "127.0.0.1" {
			t.Errorf("cip %q", d.CIP)
		}
	})
}

// Every v2 error (docs/design.md §10.3, with v1's signature codes) the v2 door can give.
func TestAlibabaV2Errors(t *testing.T) {
	t.Parallel()
	_, base := startAliServer(t, Config{Accounts: v2Accounts()})
	now := vectorNow.Unix()
	exp := strconv.FormatInt(now+600, 10)
	plain := func(extra map[string]string) map[string]string {
		f := map[string]string{"id": "100000", "dn": "a.example", "exp": exp}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	signed := v2Query(plain(nil), v2Secret)
	for _, tc := range []struct {
		name, query string
		status      int
		code        string
	}{
		{"no id", "dn=a.example", 400, CodeMissingArgument},
		{"unknown account", v2Query(plain(map[string]string{"id": "999"}), ""), 403, CodeInvalidAccount},
		{"bad m", v2Query(plain(map[string]string{"m": "3"}), ""), 400, CodeInvalidArgument},
		{"wrong signature", v2Query(plain(nil), "ffffffffffffffffffffffffffffffff"), 403, CodeInvalidSignature},
		{"a signed field changed", strings.Replace(signed, "dn=a.example", "dn=b.example", 1), 403, CodeInvalidSignature},
		{"expired", v2Query(plain(map[string]string{"exp": strconv.FormatInt(now-1, 10)}), v2Secret), 403, CodeSignatureExpired},
		{"more than 24h ahead", v2Query(plain(map[string]string{"exp": strconv.FormatInt(now+25*3600, 10)}), v2Secret), 403, CodeInvalidDuration},
		{"signed without exp", v2Query(map[string]string{"id": "100000", "dn": "a.example"}, v2Secret), 400, CodeMissingArgument},
		{"secret not hex", v2Query(plain(map[string]string{"id": "100003"}), v2Secret), 403, CodeInvalidSignature},
		{"no secret", v2Query(plain(map[string]string{"id": "100002"}), v2Secret), 403, CodeInvalidSignature},
		{"signed only, unsigned", v2Query(plain(map[string]string{"id": "100001"}), ""), 403, CodeUnsignedInterfaceDisabled},
		{"no dn", v2Query(map[string]string{"id": "100000"}, ""), 400, CodeMissingArgument},
		{"six names", v2Query(plain(map[string]string{"dn": "a.t,b.t,c.t,d.t,e.t,f.t"}), ""), 400, CodeTooManyHosts},
		{"bad name", v2Query(plain(map[string]string{"dn": "a..t"}), ""), 400, CodeInvalidHost},
		{"bad q", v2Query(plain(map[string]string{"q": "5"}), ""), 400, CodeInvalidQuery},
		{"bad cip", v2Query(plain(map[string]string{"cip": "1.2.3"}), ""), 400, CodeInvalidIP},
		{"encrypted without enc", v2Query(map[string]string{"id": "100000", "m": "1"}, ""), 400, CodeMissingArgument},
		{"enc not hex", v2Query(map[string]string{"id": "100000", "m": "1", "enc": "zz"}, ""), 400, CodeInvalidArgument},
		{"enc of the other mode", v2Query(map[string]string{"id": "100000", "m": "2", "enc": v2Encrypt(t, 1, `{"dn":"a.example"}`)}, ""), 400, CodeInvalidArgument},
		{"enc not JSON", v2Query(map[string]string{"id": "100000", "m": "1", "enc": v2Encrypt(t, 1, `dn=a.example`)}, ""), 400, CodeInvalidArgument},
		{"encrypted, no aes_key", v2Query(map[string]string{"id": "100003", "m": "1", "enc": v2Encrypt(t, 1, `{"dn":"a.example"}`)}, ""), 403, CodeInvalidAccount},
		{"upstream down", v2Query(plain(map[string]string{"dn": "fail.example"}), ""), 503, CodeUpstreamUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := httpGet(t, base+"/v2/d?"+tc.query)
			wantCode(t, code, body, tc.status, tc.code)
			if strings.Contains(string(body), v2Secret) || strings.Contains(string(body), v2AESKey) {
				t.Errorf("the answer reveals a key: %s", body)
			}
		})
	}
	t.Run("POST", func(t *testing.T) {
		resp, err := http.Post(base+"/v2/d?"+signed, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantCode(t, resp.StatusCode, body, 405, CodeMethodNotAllowed)
	})
}
