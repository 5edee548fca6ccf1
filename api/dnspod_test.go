package api

import (
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/resolver"
)

// dnspodAccounts is a fixed DNSPod account table.
type dnspodAccounts map[string]DNSPodKeys

func (d dnspodAccounts) DNSPodKeys(id string) (DNSPodKeys, bool) {
	k, ok := d[id]
	return k, ok
}

func (d dnspodAccounts) DNSPodToken(token string) bool { return token == "tok-1234" }

func newDNSPodAPI(t *testing.T) *testAPI {
	return newTestAPI(t, Config{DNSPod: dnspodAccounts{
		"1234": {DES: "dnspodpass", AES: "0123456789abcdef"},
		"5678": {AES: "short"},
	}})
}

// TestDNSPodCipherVectors checks the ciphers against the published vectors (docs/design.md §10.3): DES-ECB
// with the first 8 bytes of the key text, hex.
func TestDNSPodCipherVectors(t *testing.T) {
	t.Parallel()
	for _, v := range []struct{ key, plain, hex string }{
		{"dnspodpass", "www.dnspod.cn", "87ae992c1321f299da3c0210a9900ae7"},
		{"weijianliao", "www.google.com", "cd52888ecabcac455a14ddbac7f03d97"},
	} {
		c, err := newDESECB(desKey(v.key))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.encrypt([]byte(v.plain)); got != v.hex {
			t.Errorf("DES(%q, %q) = %s, want %s", v.key, v.plain, got, v.hex)
		}
		if got, err := c.decrypt(strings.ToUpper(v.hex)); err != nil || string(got) != v.plain {
			t.Errorf("decrypting %s: %q %v", v.hex, got, err)
		}
	}
	// Every length round-trips, whole padding blocks included.
	des8, _ := newDESECB(desKey("dnspodpass"))
	for n := range 25 {
		plain := []byte(strings.Repeat("x", n))
		if got, err := des8.decrypt(des8.encrypt(plain)); err != nil || string(got) != string(plain) {
			t.Errorf("DES round trip of %d bytes: %q %v", n, got, err)
		}
	}
	// AES: a random IV each time, and a round trip; short keys are padded with '0'.
	c, err := newAESCBC(aesKey("short"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.encrypt([]byte("www.qq.com")), c.encrypt([]byte("www.qq.com"))
	if a == b || len(a) != 64 {
		t.Errorf("AES ciphertexts %s and %s: want a fresh IV and IV‖one block", a, b)
	}
	if got, err := c.decrypt(a); err != nil || string(got) != "www.qq.com" {
		t.Errorf("AES round trip: %q %v", got, err)
	}
	for _, bad := range []string{"", "zz", "00", strings.Repeat("0", 32), a[:62]} {
		if _, err := c.decrypt(bad); err == nil {
			t.Errorf("decrypting %q succeeded", bad)
		}
	}
}

func dnspodGet(t *testing.T, ta *testAPI, query string) (int, string, http.Header) {
	t.Helper()
	w := get(ta.Public(), "/d?"+query, fromPeer("1.2.3.4:5555"))
	if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
		t.Errorf("%s: Content-Length %q for a %d-byte body", query, cl, w.Body.Len())
	}
	return w.Code, w.Body.String(), w.Header()
}

func TestDNSPodPlainGrammar(t *testing.T) {
	t.Parallel()
	ta := newDNSPodAPI(t)
	v4 := strings.Join(fakeIPs("www.qq.com", resolver.TypeA, "1.2.3.4"), ";")
	v6 := strings.Join(fakeIPs("www.qq.com", resolver.TypeAAAA, "1.2.3.4"), ";")
	ttl4 := strconv.Itoa(int(fakeAnswer("www.qq.com", resolver.TypeA, netip.MustParseAddr("1.2.3.4")).TTL))
	ttl6 := strconv.Itoa(int(fakeAnswer("www.qq.com", resolver.TypeAAAA, netip.MustParseAddr("1.2.3.4")).TTL))
	other := strings.Join(fakeIPs("www.qq.com", resolver.TypeA, "5.6.7.8"), ";")
	for _, tc := range []struct{ query, want string }{
		{"dn=www.qq.com", v4},
		{"dn=www.qq.com&ttl=1", v4 + "," + ttl4},
		{"dn=www.qq.com&ttl=1&clientip=1", v4 + "," + ttl4 + "|1.2.3.4"},
		{"dn=WWW.QQ.COM.&ttl=1&clientip=1&ip=", v4 + "," + ttl4 + "|1.2.3.4"}, // Android sends ip= empty
		{"dn=www.qq.com&ttl=1&clientip=1&ip=5.6.7.8", other + "," + ttl4 + "|5.6.7.8"},
		{"dn=www.qq.com&type=aaaa&ttl=1", v6 + "," + ttl6},
		{"dn=www.qq.com&type=ADDRS&ttl=1&clientip=1", v4 + "," + ttl4 + "-" + v6 + "," + ttl6 + "|1.2.3.4"},
		{"dn=www.qq.com&query=1&ttl=1", "www.qq.com.:" + v4 + "," + ttl4},
		{"dn=www.qq.com,nx.qq.com&ttl=1&clientip=1",
			"www.qq.com.:" + v4 + "," + ttl4 + "|1.2.3.4\nnx.qq.com.:0,30|1.2.3.4"},
		{"dn=nx.qq.com&ttl=1", "0,30"},
		{"ttl=1&dn=www.qq.com", v4 + "," + ttl4},
	} {
		code, body, h := dnspodGet(t, ta, tc.query)
		if code != 200 || body != tc.want || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d %q (%s), want 200 %q", tc.query, code, body, h.Get("Content-Type"), tc.want)
		}
	}
	// Our own /d is untouched by the dispatch.
	if w := get(ta.Public(), "/d?host=www.qq.com"); w.Code != 200 || !strings.HasPrefix(w.Body.String(), `{"host":"www.qq.com"`) {
		t.Errorf("/d?host= after the DNSPod dispatch: %d %s", w.Code, w.Body)
	}
}

func TestDNSPodEncryptedModes(t *testing.T) {
	t.Parallel()
	ta := newDNSPodAPI(t)
	des, _ := newDESECB(desKey("dnspodpass"))
	aesc, _ := newAESCBC(aesKey("0123456789abcdef"))
	v4 := strings.Join(fakeIPs("www.dnspod.cn", resolver.TypeA, "1.2.3.4"), ";")
	ttl := strconv.Itoa(int(fakeAnswer("www.dnspod.cn", resolver.TypeA, netip.MustParseAddr("1.2.3.4")).TTL))
	want := v4 + "," + ttl + "|1.2.3.4"
	for _, tc := range []struct {
		name, query string
		c           dnspodCipher
	}{
		{"des vector", "dn=87ae992c1321f299da3c0210a9900ae7&id=1234&ttl=1&clientip=1", des},
		{"des default alg, upper-case hex", "dn=87AE992C1321F299DA3C0210A9900AE7&id=1234&alg=des&ttl=1&clientip=1", des},
		{"aes", "dn=" + aesc.encrypt([]byte("www.dnspod.cn")) + "&id=1234&alg=aes&ttl=1&clientip=1", aesc},
		{"aes with the iOS expiry", "dn=" + aesc.encrypt([]byte("www.dnspod.cn;"+strconv.FormatInt(time.Now().Add(600*time.Second).Unix(), 10))) +
			"&id=1234&alg=aes&ttl=1&clientip=1", aesc},
	} {
		code, body, _ := dnspodGet(t, ta, tc.query)
		plain, err := tc.c.decrypt(body)
		if code != 200 || err != nil || string(plain) != want {
			t.Errorf("%s: %d %q (decrypted %q %v), want %q", tc.name, code, body, plain, err, want)
		}
	}
	// The ip parameter may come encrypted (the docs) or in clear (Android).
	enc := des.encrypt([]byte("5.6.7.8"))
	for _, ip := range []string{enc, "5.6.7.8"} {
		code, body, _ := dnspodGet(t, ta, "dn=87ae992c1321f299da3c0210a9900ae7&id=1234&clientip=1&ip="+url.QueryEscape(ip))
		plain, _ := des.decrypt(body)
		if code != 200 || !strings.HasSuffix(string(plain), "|5.6.7.8") {
			t.Errorf("ip=%s: %d %q", ip, code, plain)
		}
	}
	// HTTPS token mode: dn in clear, answer in clear.
	if code, body, _ := dnspodGet(t, ta, "dn=www.dnspod.cn&token=tok-1234&ttl=1&clientip=1"); code != 200 || body != want {
		t.Errorf("token mode: %d %q, want %q", code, body, want)
	}
}

func TestDNSPodErrors(t *testing.T) {
	t.Parallel()
	ta := newDNSPodAPI(t)
	des, _ := newDESECB(desKey("dnspodpass"))
	expired := des.encrypt([]byte("www.dnspod.cn;" + strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)))
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"dn=87ae992c1321f299da3c0210a9900ae7&id=9999", 401},         // unknown account
		{"dn=87ae992c1321f299da3c0210a9900ae7&id=5678", 401},         // account without a DES key
		{"dn=87ae992c1321f299da3c0210a9900ae7&id=1234&alg=rc4", 400}, // unknown algorithm
		{"dn=nothex&id=1234", 400},                                   // undecryptable
		{"dn=0011223344556677&id=1234", 400},                         // bad padding
		{"dn=" + expired + "&id=1234", 401},                          // a replayed request
		{"dn=www.dnspod.cn&token=wrong", 401},
		{"dn=", 400},
		{"dn=a..b", 400},
		{"dn=1.2.3.4", 400},
		{"dn=a.com;notanumber", 400},
		{"dn=" + strings.Repeat("a.com,", 8) + "a.com", 400}, // 9 names
		{"dn=a.com&type=mx", 400},
		{"dn=a.com&ip=not-an-ip", 400},
		{"dn=fail.qq.com", 503},
		{"dn=a.com&dn=%zz", 400},
	} {
		code, body, _ := dnspodGet(t, ta, tc.query)
		if code != tc.status || body != http.StatusText(tc.status) {
			t.Errorf("%s: %d %q, want %d", tc.query, code, body, tc.status)
		}
	}
	// A batch where some names fail still answers the others.
	if code, body, _ := dnspodGet(t, ta, "dn=fail.qq.com,www.qq.com"); code != 200 || !strings.HasPrefix(body, "fail.qq.com.:0\nwww.qq.com.:") {
		t.Errorf("partly failed batch: %d %q", code, body)
	}
}

func TestDNSPodConf(t *testing.T) {
	t.Parallel()
	ta := newDNSPodAPI(t)
	des, _ := newDESECB(desKey("dnspodpass"))
	srv := startServer(t, ta.Public(), short, 0)
	resp, err := http.Get("http://" + srv + "/conf?id=1234&alg=des")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	plain, err := des.decrypt(string(raw))
	if resp.StatusCode != 200 || err != nil || string(plain) != "log:0|domain:0|ip:127.0.0.1|ttl:60" {
		t.Errorf("/conf: %d %q %v", resp.StatusCode, plain, err)
	}
	if w := get(ta.Public(), "/conf?token=tok-1234"); w.Code != 200 || !strings.HasPrefix(w.Body.String(), "log:0|domain:0|ip:") {
		t.Errorf("/conf token mode: %d %q", w.Code, w.Body)
	}
	for _, q := range []string{"", "?id=9999", "?token=nope"} {
		if w := get(ta.Public(), "/conf"+q); w.Code == 200 {
			t.Errorf("/conf%s: 200 %q", q, w.Body)
		}
	}
}
