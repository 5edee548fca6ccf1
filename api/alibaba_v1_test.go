package api

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/resolver"
)

// vectorT is the expiry of the published v1 signature vectors (docs/design.md §10.3); the tests' clock stands 30 s before it.
const vectorT = 1534316400

var vectorNow = time.Unix(vectorT-30, 0)

// aliAccounts are the accounts of the v1 tests: the vectors' secret, a signed-only account, an
// account without a secret and one with DNSPod settings only.
func aliAccounts() []Account {
	return []Account{
		{ID: "100000", Alibaba: &AlibabaAccount{Secret: "IAmASecret"}},
		{ID: "100001", Alibaba: &AlibabaAccount{Secret: "0a1b2c3d", SignedOnly: true}},
		{ID: "100002", Alibaba: &AlibabaAccount{}},
		{ID: "1234", DNSPod: &DNSPodAccount{Token: "tok"}},
	}
}

// startAliServer serves the public handler of an API with aliAccounts on a real loopback server.
func startAliServer(t *testing.T, cfg Config) (*testAPI, string) {
	t.Helper()
	if cfg.Accounts == nil {
		cfg.Accounts = aliAccounts()
	}
	cfg.Now = func() time.Time { return vectorNow }
	ta := newTestAPI(t, cfg)
	srv := httptest.NewServer(ta.Public())
	t.Cleanup(srv.Close)
	return ta, srv.URL
}

func v1Sign(host, secret string, t int64) string {
	sum := md5.Sum([]byte(host + "-" + secret + "-" + strconv.FormatInt(t, 10)))
	return hex.EncodeToString(sum[:])
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", url, ct)
	}
	return resp.StatusCode, body
}

type v1Single struct {
	Host      string   `json:"host"`
	ClientIP  string   `json:"client_ip"`
	IPs       []string `json:"ips"`
	IPsV6     []string `json:"ipsv6"`
	TTL       int      `json:"ttl"`
	OriginTTL int      `json:"origin_ttl"`
	Scope     string   `json:"scope"`
}

type v1Entry struct {
	Host      string   `json:"host"`
	ClientIP  string   `json:"client_ip"`
	IPs       []string `json:"ips"`
	Type      int      `json:"type"`
	TTL       int      `json:"ttl"`
	OriginTTL int      `json:"origin_ttl"`
	Scope     string   `json:"scope"`
}

// The published signature vectors (docs/design.md §10.3), checked by the door itself: the MD5 the vendor documents is
// accepted, single and batch.
func TestAlibabaV1SignatureVectors(t *testing.T) {
	t.Parallel()
	if got := v1Sign("www.aliyun.com", "IAmASecret", vectorT); got != "60c71e98b6d7fcbb366243e224eab457" {
		t.Fatalf("single vector: %s", got)
	}
	if got := v1Sign("www.aliyun.com,www.taobao.com", "IAmASecret", vectorT); got != "12a3f6b1b14a46ca813ca6439beb59a4" {
		t.Fatalf("batch vector: %s", got)
	}
	_, url := startAliServer(t, Config{})
	t.Run("sign_d", func(t *testing.T) {
		code, body := httpGet(t, url+"/100000/sign_d?host=www.aliyun.com&t=1534316400&s=60c71e98b6d7fcbb366243e224eab457&ip=1.2.3.4")
		var d v1Single
		decodeStrict(t, body, &d)
		want := fakeIPs("www.aliyun.com", resolver.TypeA, "1.2.3.4")
		if code != 200 || d.Host != "www.aliyun.com" || d.ClientIP != "1.2.3.4" || strings.Join(d.IPs, " ") != strings.Join(want, " ") ||
			len(d.IPsV6) != 0 || d.TTL <= 0 || d.OriginTTL != 300 {
			t.Errorf("%d %s, want ips %v", code, body, want)
		}
	})
	t.Run("sign_resolve", func(t *testing.T) {
		code, body := httpGet(t, url+"/100000/sign_resolve?host=www.aliyun.com,www.taobao.com&t=1534316400&s=12a3f6b1b14a46ca813ca6439beb59a4")
		var res struct{ DNS []v1Entry }
		decodeStrict(t, body, &res)
		if code != 200 || len(res.DNS) != 2 || res.DNS[0].Host != "www.aliyun.com" || res.DNS[1].Host != "www.taobao.com" ||
			res.DNS[0].Type != 1 || res.DNS[1].Type != 1 || len(res.DNS[1].IPs) != 2 {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("the batch signature covers the order sent", func(t *testing.T) {
		code, body := httpGet(t, url+"/100000/sign_resolve?host=www.taobao.com,www.aliyun.com&t=1534316400&s=12a3f6b1b14a46ca813ca6439beb59a4")
		wantCode(t, code, body, 403, CodeInvalidSignature)
	})
}

func wantCode(t *testing.T, code int, body []byte, status int, want string) {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil || code != status || e.Code != want || e.Message == "" {
		t.Errorf("got %d %s, want %d %s", code, body, status, want)
	}
}

// Every error of the v1 error table (docs/design.md §10.3) the v1 door can give, with its status, over the wire.
func TestAlibabaV1Errors(t *testing.T) {
	t.Parallel()
	ta, url := startAliServer(t, Config{})
	now := vectorNow.Unix()
	sign := func(host string, exp int64) string {
		return "host=" + host + "&t=" + strconv.FormatInt(exp, 10) + "&s=" + v1Sign(host, "IAmASecret", exp)
	}
	for _, tc := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"unknown account", "/999999/d?host=a.example", 403, CodeInvalidAccount},
		{"unknown account, signed", "/999999/sign_d?" + sign("a.example", now+30), 403, CodeInvalidAccount},
		{"unknown account, ss", "/999999/ss", 403, CodeInvalidAccount},
		{"account without alibaba settings", "/1234/d?host=a.example", 403, CodeInvalidAccount},
		{"signed only, d", "/100001/d?host=a.example", 403, CodeUnsignedInterfaceDisabled},
		{"signed only, resolve", "/100001/resolve?host=a.example", 403, CodeUnsignedInterfaceDisabled},
		{"expired", "/100000/sign_d?" + sign("a.example", now-1), 403, CodeSignatureExpired},
		{"expired batch", "/100000/sign_resolve?" + sign("a.example,b.example", now-3600), 403, CodeSignatureExpired},
		{"more than 24h ahead", "/100000/sign_d?" + sign("a.example", now+25*3600), 403, CodeInvalidDuration},
		{"wrong signature", "/100000/sign_d?host=a.example&t=" + strconv.FormatInt(now+30, 10) + "&s=" + v1Sign("a.example", "other", now+30), 403, CodeInvalidSignature},
		{"signature of another host", "/100000/sign_d?host=b.example&t=" + strconv.FormatInt(now+30, 10) + "&s=" + v1Sign("a.example", "IAmASecret", now+30), 403, CodeInvalidSignature},
		{"signature of another t", "/100000/sign_d?host=a.example&t=" + strconv.FormatInt(now+31, 10) + "&s=" + v1Sign("a.example", "IAmASecret", now+30), 403, CodeInvalidSignature},
		{"short signature", "/100000/sign_d?host=a.example&t=" + strconv.FormatInt(now+30, 10) + "&s=abc", 403, CodeInvalidSignature},
		{"t not a number", "/100000/sign_d?host=a.example&t=soon&s=" + v1Sign("a.example", "IAmASecret", now+30), 403, CodeInvalidSignature},
		{"account without a secret", "/100002/sign_d?host=a.example&t=" + strconv.FormatInt(now+30, 10) + "&s=" + v1Sign("a.example", "", now+30), 403, CodeInvalidSignature},
		{"signed without t", "/100000/sign_d?host=a.example&s=" + v1Sign("a.example", "IAmASecret", now+30), 400, CodeMissingArgument},
		{"signed without s", "/100000/sign_d?host=a.example&t=" + strconv.FormatInt(now+30, 10), 400, CodeMissingArgument},
		{"no host", "/100000/d", 400, CodeMissingArgument},
		{"empty host", "/100000/resolve?host=", 400, CodeMissingArgument},
		{"no host, signed", "/100000/sign_d?t=1&s=2", 400, CodeMissingArgument},
		{"invalid host", "/100000/d?host=a..example", 400, CodeInvalidHost},
		{"invalid host in a batch", "/100000/resolve?host=a.example,-b.example", 400, CodeInvalidHost},
		{"several hosts on the single API", "/100000/d?host=a.example,b.example", 400, CodeTooManyHosts},
		{"six hosts", "/100000/resolve?host=a.t,b.t,c.t,d.t,e.t,f.t", 400, CodeTooManyHosts},
		{"six hosts, signed", "/100000/sign_resolve?" + sign("a.t,b.t,c.t,d.t,e.t,f.t", now+30), 400, CodeTooManyHosts},
		{"bad query", "/100000/d?host=a.example&query=5", 400, CodeInvalidQuery},
		{"bad ip", "/100000/d?host=a.example&ip=1.2.3", 400, CodeInvalidIP},
		{"unknown operation", "/100000/lookup?host=a.example", 404, CodeNotFound},
		{"upstream down", "/100000/d?host=fail.example", 503, CodeUpstreamUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := httpGet(t, url+tc.path)
			wantCode(t, code, body, tc.status, tc.code)
			if strings.Contains(string(body), "IAmASecret") {
				t.Errorf("the answer reveals the secret: %s", body)
			}
		})
	}
	t.Run("POST", func(t *testing.T) {
		resp, err := http.Post(url+"/100000/d?host=a.example", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantCode(t, resp.StatusCode, body, 405, CodeMethodNotAllowed)
	})
	t.Run("24h ahead is allowed", func(t *testing.T) {
		code, body := httpGet(t, url+"/100000/sign_d?"+sign("a.example", now+24*3600))
		if code != 200 {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("nothing logs the secret", func(t *testing.T) {
		if strings.Contains(ta.log.String(), "IAmASecret") {
			t.Errorf("log reveals the secret: %s", ta.log)
		}
	})
}

// The v1 answers: families by query (IPv4 only without it), one batch entry per host and family with
// AAAA addresses in ips, the client from ip=, unknown parameters ignored.
func TestAlibabaV1Answers(t *testing.T) {
	t.Parallel()
	_, url := startAliServer(t, Config{})
	const ignored = "&sdk=android_2.4.3&sid=Ab3dEf6hIj9k&net=wifi&platform=linux&sdk_version=2.2.5&region=global&sdns-foo=bar"
	t.Run("single without query is IPv4", func(t *testing.T) {
		code, body := httpGet(t, url+"/100000/d?host=api.example&ip=10.0.7.9"+ignored)
		var d v1Single
		decodeStrict(t, body, &d)
		if code != 200 || d.Host != "api.example" || d.ClientIP != "10.0.7.9" || len(d.IPs) != 2 || len(d.IPsV6) != 0 || d.TTL <= 0 {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("single: only the families asked are present", func(t *testing.T) {
		for query, want := range map[string]string{"": `"ips":[`, "&query=4": `"ips":[`, "&query=6": `"ipsv6":[`} {
			code, body := httpGet(t, url+"/100000/d?host=api.example"+query)
			other := `"ipsv6"`
			if want == `"ipsv6":[` {
				other = `"ips"`
			}
			if code != 200 || !strings.Contains(string(body), want) || strings.Contains(string(body), other) {
				t.Errorf("query %q: %d %s", query, code, body)
			}
		}
	})
	t.Run("single 4,6", func(t *testing.T) {
		code, body := httpGet(t, url+"/100000/d?host=api.example&query=4%2C6&ip=10.0.7.9")
		var d v1Single
		decodeStrict(t, body, &d)
		if code != 200 || len(d.IPs) != 2 || strings.Join(d.IPsV6, "") != strings.Join(fakeIPs("api.example", resolver.TypeAAAA, "10.0.7.9"), "") {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("batch without query is IPv4 only", func(t *testing.T) {
		code, body := httpGet(t, url+"/100000/resolve?host=a.example,b.example,c.example,d.example,e.example"+ignored)
		var res struct{ DNS []v1Entry }
		decodeStrict(t, body, &res)
		if code != 200 || len(res.DNS) != 5 {
			t.Fatalf("%d %s", code, body)
		}
		for _, e := range res.DNS {
			if e.Type != 1 || len(e.IPs) != 2 || e.ClientIP != "127.0.0.1" || e.TTL <= 0 {
				t.Errorf("entry %+v", e)
			}
		}
	})
	t.Run("batch 4,6: one entry per host and family", func(t *testing.T) {
		code, body := httpGet(t, url+"/100000/resolve?host=a.example,b.example&query=4,6&ip=2001:db8:1:2::3")
		var res struct{ DNS []v1Entry }
		decodeStrict(t, body, &res)
		if code != 200 || len(res.DNS) != 4 {
			t.Fatalf("%d %s", code, body)
		}
		for i, want := range []struct {
			host  string
			qtype uint16
		}{{"a.example", 1}, {"a.example", 28}, {"b.example", 1}, {"b.example", 28}} {
			e := res.DNS[i]
			ips := fakeIPs(want.host, want.qtype, "2001:db8:1:2::3")
			if e.Host != want.host || e.Type != int(want.qtype) || strings.Join(e.IPs, " ") != strings.Join(ips, " ") {
				t.Errorf("entry %d: %+v, want %s type %d ips %v", i, e, want.host, want.qtype, ips)
			}
		}
	})
	t.Run("a name that does not exist is empty, not an error", func(t *testing.T) {
		code, body := httpGet(t, url+"/100000/d?host=nx.example")
		var d v1Single
		decodeStrict(t, body, &d)
		if code != 200 || d.IPs == nil || len(d.IPs) != 0 {
			t.Errorf("%d %s", code, body)
		}
	})
}

func TestAlibabaV1ServiceDiscovery(t *testing.T) {
	t.Parallel()
	t.Run("configured", func(t *testing.T) {
		_, url := startAliServer(t, Config{ServiceIPs: []string{"192.0.2.10:8080", "[2001:db8::10]:8080", "192.0.2.11", "2001:db8::11"}})
		code, body := httpGet(t, url+"/100000/ss?platform=android&sdk_version=2.6.7&region=global&sid=x")
		want := `{"service_ip":["192.0.2.10:8080","192.0.2.11"],"service_ipv6":["[2001:db8::10]:8080","2001:db8::11"],"service_status":"enable"}` + "\n"
		if code != 200 || string(body) != want {
			t.Errorf("%d %s, want %s", code, body, want)
		}
	})
	t.Run("default: the address the client used", func(t *testing.T) {
		_, url := startAliServer(t, Config{})
		code, body := httpGet(t, url+"/100000/ss")
		want := `{"service_ip":["` + strings.TrimPrefix(url, "http://") + `"],"service_ipv6":[],"service_status":"enable"}` + "\n"
		if code != 200 || string(body) != want {
			t.Errorf("%d %s, want %s", code, body, want)
		}
	})
}

// Per-account request counters: one series per configured account and one "unknown", whatever ids
// clients invent; no secret in /metrics.
func TestAlibabaV1AccountMetrics(t *testing.T) {
	t.Parallel()
	ta, url := startAliServer(t, Config{})
	for _, p := range []string{"/100000/d?host=a.example", "/100000/resolve?host=a.example", "/100001/d?host=a.example",
		"/x1/d?host=a.example", "/x2/d?host=a.example", "/x3/ss"} {
		httpGet(t, url+p)
	}
	w := get(ta.Admin(), "/metrics")
	text := w.Body.String()
	for _, want := range []string{
		`httpdns_account_requests_total{account="100000"} 2`,
		`httpdns_account_requests_total{account="100001"} 1`,
		`httpdns_account_requests_total{account="unknown"} 3`,
		`httpdns_http_requests_total{code="200",endpoint="alibaba_d"} 1`,
		`httpdns_http_requests_total{code="403",endpoint="alibaba_d"} 3`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, bad := range []string{"x1", "x2", "IAmASecret"} {
		if strings.Contains(text, bad) {
			t.Errorf("/metrics holds %q", bad)
		}
	}
}

func TestCheckAccounts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		acc  []Account
		want []string // substrings of the error; none: valid
	}{
		{"none", nil, nil},
		{"valid", aliAccounts(), nil},
		{"aes key", []Account{{ID: "1", Alibaba: &AlibabaAccount{AESKey: "00112233445566778899aabbccddeeff"}}}, nil},
		{"empty id", []Account{{ID: ""}}, []string{"id is required"}},
		{"repeated id", []Account{{ID: "1"}, {ID: "1"}}, []string{"repeated"}},
		{"reserved id", []Account{{ID: "unknown"}}, []string{"reserved"}},
		{"id with a slash", []Account{{ID: "a/b"}}, []string{"id must be"}},
		{"short aes key", []Account{{ID: "1", Alibaba: &AlibabaAccount{AESKey: "0011"}}}, []string{"aes_key must be 32 hex"}},
		{"aes key not hex", []Account{{ID: "1", Alibaba: &AlibabaAccount{AESKey: "zz112233445566778899aabbccddeeff"}}}, []string{"aes_key"}},
		{"secret with a space", []Account{{ID: "1", Alibaba: &AlibabaAccount{Secret: "Top Secret"}}}, []string{"alibaba.secret"}},
		{"short des key", []Account{{ID: "1", DNSPod: &DNSPodAccount{DESKey: "short"}}}, []string{"des_key"}},
		{"short dnspod aes key, padded", []Account{{ID: "1", DNSPod: &DNSPodAccount{AESKey: "0123456789"}}}, nil},
		{"long dnspod aes key", []Account{{ID: "1", DNSPod: &DNSPodAccount{AESKey: "0123456789abcdefX"}}}, []string{"dnspod.aes_key"}},
		{"every problem at once", []Account{{ID: "1", Alibaba: &AlibabaAccount{AESKey: "x"}}, {ID: "1", DNSPod: &DNSPodAccount{DESKey: "x"}}},
			[]string{"alibaba.aes_key", "repeated", "des_key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckAccounts(tc.acc)
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("unexpected error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, a := range tc.acc {
				if a.Alibaba != nil && len(a.Alibaba.Secret) > 3 && strings.Contains(err.Error(), a.Alibaba.Secret) {
					t.Errorf("error reveals a secret: %v", err)
				}
			}
		})
	}
	if _, err := New(Config{Resolver: &fakeResolver{}, Accounts: []Account{{ID: "1"}, {ID: "1"}}}); err == nil {
		t.Error("New accepted repeated account ids")
	}
}
