package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/api"
)

// Secrets in the file, in an environment variable and in a file beside the config all reach the
// api's accounts; printing the config shows none of them.
func TestParseConfigAccounts(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "aes.key"), []byte("00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HTTPDNS_TEST_TOKEN", "tok-from-env")
	doc := baseYAML + `
service_ips: ["192.0.2.10:8080", "2001:db8::10"]
accounts:
  - id: "100000"
    alibaba:
      secret: "5f3c9a0b"
      aes_key: {file: aes.key}
      signed_only: true
  - id: "1234"
    dnspod:
      des_key: dnspodpass
      aes_key: "0123456789abcdef"
      token: {env: HTTPDNS_TEST_TOKEN}
`
	cfg, err := ParseConfig([]byte(doc), dir)
	if err != nil {
		t.Fatal(err)
	}
	got := apiAccounts(cfg.Accounts)
	want := []api.Account{
		{ID: "100000", Alibaba: &api.AlibabaAccount{Secret: "5f3c9a0b", AESKey: "00112233445566778899aabbccddeeff", SignedOnly: true}},
		{ID: "1234", DNSPod: &api.DNSPodAccount{DESKey: "dnspodpass", AESKey: "0123456789abcdef", Token: "tok-from-env"}},
	}
	if fmt.Sprintf("%+v %+v %+v", *got[0].Alibaba, *got[1].DNSPod, got[0].ID+got[1].ID) !=
		fmt.Sprintf("%+v %+v %+v", *want[0].Alibaba, *want[1].DNSPod, want[0].ID+want[1].ID) {
		t.Errorf("accounts = %+v %+v, want %+v %+v", *got[0].Alibaba, *got[1].DNSPod, *want[0].Alibaba, *want[1].DNSPod)
	}
	if got := cfg.advertisedServiceIPs(); strings.Join(got, " ") != "192.0.2.10:8080 2001:db8::10" {
		t.Errorf("service ips %v", got)
	}
	printed := fmt.Sprintf("%v %+v %#v", cfg, cfg.Accounts[0].Alibaba, cfg.Accounts[1].DNSPod)
	for _, secret := range []string{"5f3c9a0b", "00112233445566778899aabbccddeeff", "dnspodpass", "0123456789abcdef", "tok-from-env"} {
		if strings.Contains(printed, secret) {
			t.Errorf("printing the config reveals %q: %s", secret, printed)
		}
	}
}

func TestAdvertisedServiceIPsDefault(t *testing.T) {
	t.Parallel()
	for listen, want := range map[string]string{
		"192.0.2.1:8080": "192.0.2.1:8080",
		"[::1]:80":       "[::1]:80",
		":8080":          "",
		"0.0.0.0:8080":   "",
		"127.0.0.1:0":    "",
		"localhost:8080": "",
	} {
		c := &Config{Listen: listen}
		if got := strings.Join(c.advertisedServiceIPs(), " "); got != want {
			t.Errorf("listen %s: %q, want %q", listen, got, want)
		}
	}
}

// Every problem of the accounts is reported with its key, and no message holds a secret.
func TestParseConfigAccountsBad(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml, key, text string
	}{
		{"repeated id", `accounts: [{id: "1", alibaba: {secret: aa}}, {id: "1"}]`, "accounts", "repeated"},
		{"no id", `accounts: [{alibaba: {secret: aa}}]`, "accounts", "id is required"},
		{"short alibaba aes key", `accounts: [{id: "1", alibaba: {aes_key: "Zz11"}}]`, "accounts", "aes_key must be 32 hex"},
		{"short des key", `accounts: [{id: "1", dnspod: {des_key: "s3cr"}}]`, "accounts", "des_key"},
		{"env unset", `accounts: [{id: "1", alibaba: {secret: {env: HTTPDNS_TEST_UNSET_VARIABLE}}}]`, "accounts[0].alibaba.secret", "HTTPDNS_TEST_UNSET_VARIABLE is not set"},
		{"file missing", `accounts: [{id: "1", dnspod: {token: {file: no/such/file}}}]`, "accounts[0].dnspod.token", "no such file"},
		{"a device, not a secret", `accounts: [{id: "1", dnspod: {token: {file: /dev/zero}}}]`, "accounts[0].dnspod.token", "larger than 65536 bytes"},
		{"env and file", `accounts: [{id: "1", alibaba: {secret: {env: A, file: b}}}]`, "accounts[0].alibaba.secret", "exactly one of env and file"},
		{"unknown secret key", `accounts: [{id: "1", alibaba: {secret: {vault: x}}}]`, "accounts[0].alibaba.secret", `unknown key "vault"`},
		{"secret as a list", `accounts: [{id: "1", alibaba: {secret: [a]}}]`, "accounts[0].alibaba.secret", "not a list"},
		{"unknown account key", `accounts: [{id: "1", alibab: {}}]`, "accounts[0].alibab", "unknown key"},
		{"service ip not an address", `service_ips: ["example.com:80"]`, "service_ips[0]", "not an IP address"},
		{"service ip port 0", `service_ips: ["192.0.2.1:0"]`, "service_ips[0]", "not an IP address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig([]byte(baseYAML+tc.yaml), t.TempDir())
			if err == nil {
				t.Fatal("accepted")
			}
			fe := findFieldError(err, tc.key)
			if fe == nil || !strings.Contains(fe.Error(), tc.text) {
				t.Fatalf("error %q: want %q about key %q", err, tc.text, tc.key)
			}
			for _, secret := range []string{"Zz11", "s3cr"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals a secret", err)
				}
			}
		})
	}
}
