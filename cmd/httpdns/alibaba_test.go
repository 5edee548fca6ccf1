package main

import (
	"crypto/md5"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The Alibaba v1 door end to end: a real serve over the simulated CDN's authoritative servers, an
// account from the config with its secret in a file, signed single and batch lookups that get the
// CDN's per-subnet answers, discovery, the DNSPod token mode from the same accounts, and the
// per-account series in /metrics without the secret.
func TestServeAlibabaV1(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 2)
	dir := t.TempDir()
	const secret = "5f3c9a0b1d2e"
	if err := os.WriteFile(filepath.Join(dir, "alibaba.secret"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := "accounts:\n  - id: \"100000\"\n    alibaba: {secret: {file: alibaba.secret}, signed_only: true}\n" +
		"  - id: \"1234\"\n    dnspod: {token: tok-1234}\n"
	s := startService(t, w, writeTestConfig(t, w, dir, addrsOf(servers), extra))
	a, b := demoClients(w, "img.cdn-a.test")
	exp := strconv.FormatInt(time.Now().Add(30*time.Second).Unix(), 10)
	sign := func(host string) string {
		sum := md5.Sum([]byte(host + "-" + secret + "-" + exp))
		return "host=" + host + "&t=" + exp + "&s=" + hex.EncodeToString(sum[:])
	}

	t.Run("signed single lookups get each subnet's answer", func(t *testing.T) {
		for _, c := range []string{a.String(), b.String()} {
			code, body := get(t, s.public+"/100000/sign_d?"+sign("img.cdn-a.test")+"&ip="+c+"&sdk=android_2.4.3&sid=x")
			truth := w.Truth("img.cdn-a.test", dns.TypeA, a)
			if c == b.String() {
				truth = w.Truth("img.cdn-a.test", dns.TypeA, b)
			}
			if code != 200 || !slices.Equal(ipsOf(body, "ips"), truth) || body["host"] != "img.cdn-a.test" || body["ttl"].(float64) <= 0 {
				t.Errorf("client %s: %d %v, truth %v", c, code, body, truth)
			}
		}
	})
	t.Run("signed batch, IPv4 and IPv6", func(t *testing.T) {
		code, body := get(t, s.public+"/100000/sign_resolve?"+sign("img.cdn-a.test,www.portal.test")+"&query=4,6&ip="+a.String())
		list, _ := body["dns"].([]any)
		if code != 200 || len(list) != 4 {
			t.Fatalf("%d %v", code, body)
		}
		for i, wantType := range []float64{1, 28, 1, 28} {
			e := list[i].(map[string]any)
			if e["type"] != wantType {
				t.Errorf("entry %d: %v", i, e)
			}
		}
		aaaa := list[1].(map[string]any)
		if !slices.Equal(ipsOf(aaaa, "ips"), w.Truth("img.cdn-a.test", dns.TypeAAAA, a)) {
			t.Errorf("AAAA entry %v, truth %v", aaaa, w.Truth("img.cdn-a.test", dns.TypeAAAA, a))
		}
	})
	t.Run("unsigned is refused for a signed_only account", func(t *testing.T) {
		code, body := get(t, s.public+"/100000/d?host=img.cdn-a.test")
		if code != 403 || body["code"] != "UnsignedInterfaceDisabled" {
			t.Errorf("%d %v", code, body)
		}
	})
	t.Run("discovery advertises the address used", func(t *testing.T) {
		code, body := get(t, s.public+"/100000/ss")
		if list, _ := body["service_ip"].([]any); code != 200 || len(list) != 1 || list[0] != strings.TrimPrefix(s.public, "http://") {
			t.Errorf("%d %v", code, body)
		}
	})
	t.Run("the DNSPod door takes the accounts' token", func(t *testing.T) {
		resp, err := http.Get(s.public + "/d?dn=img.cdn-a.test&token=tok-1234&ip=" + a.String())
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(text), w.Truth("img.cdn-a.test", dns.TypeA, a)[0].String()) {
			t.Errorf("%d %q", resp.StatusCode, text)
		}
	})
	t.Run("per-account series, no secret", func(t *testing.T) {
		resp, err := http.Get(s.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`httpdns_account_requests_total{account="100000"}`, `httpdns_account_requests_total{account="1234"}`} {
			if !strings.Contains(string(text), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(string(text), secret) || strings.Contains(string(text), "tok-1234") {
			t.Error("/metrics reveals a secret")
		}
	})
}

// Accounts uploaded through the admin API apply at once, are kept in accounts_file (not readable by
// others) and are the accounts after a restart, over the config's.
func TestServeAdminAccountsPersist(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	dir := t.TempDir()
	path := writeTestConfig(t, w, dir, addrsOf(servers), "accounts: [{id: \"100000\", alibaba: {secret: aa11}}]\n")
	s := startService(t, w, path)
	if code, body := get(t, s.public+"/200000/d?host=img.cdn-a.test"); code != 403 {
		t.Fatalf("before the upload: %d %v", code, body)
	}
	code, body := put(t, s.admin+"/admin/accounts", "secret", `{"accounts":[{"id":"200000","alibaba":{"secret":"bb22","signed_only":true}}]}`)
	if code != 200 {
		t.Fatalf("PUT: %d %v", code, body)
	}
	check := func(when string, s *testService) {
		t.Helper()
		if code, body := get(t, s.public+"/100000/d?host=img.cdn-a.test"); code != 403 || body["code"] != "InvalidAccount" {
			t.Errorf("%s: the replaced account: %d %v", when, code, body)
		}
		if code, body := get(t, s.public+"/200000/d?host=img.cdn-a.test"); code != 403 || body["code"] != "UnsignedInterfaceDisabled" {
			t.Errorf("%s: the uploaded account: %d %v", when, code, body)
		}
		code, body := do(t, http.MethodGet, s.admin+"/admin/accounts", "secret", "")
		list, _ := body["accounts"].([]any)
		if code != 200 || len(list) != 1 || list[0].(map[string]any)["alibaba"].(map[string]any)["secret"] != "********" {
			t.Errorf("%s: GET: %d %v", when, code, body)
		}
	}
	check("after the upload", s)
	st, err := os.Stat(filepath.Join(dir, "accounts.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("accounts.json: %v %v", st, err)
	}
	s.shutdown(t)
	check("after a restart", startService(t, w, path))
}
