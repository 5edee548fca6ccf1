package api

import (
	"strings"
	"testing"
)

// Without Config.DNSPod, the DNSPod door takes its keys and tokens from the accounts, and counts
// each request under its account.
func TestAccountsServeTheDNSPodDoor(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{Accounts: []Account{
		{ID: "1234", DNSPod: &DNSPodAccount{DESKey: "dnspodpass", Token: "tok-1234"}},
		{ID: "5678", DNSPod: &DNSPodAccount{Token: "tok-5678"}},
		{ID: "100000", Alibaba: &AlibabaAccount{Secret: "IAmASecret"}},
	}})
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"dn=www.dnspod.cn&token=tok-1234", 200},
		{"dn=www.dnspod.cn&token=tok-5678", 200},
		{"dn=www.dnspod.cn&token=tok-9999", 401},
		{"dn=www.dnspod.cn&token=", 401},
		{"dn=87ae992c1321f299da3c0210a9900ae7&id=1234", 200}, // the published DES vector (docs/design.md §10.3)
		{"dn=87ae992c1321f299da3c0210a9900ae7&id=5678", 401}, // no DES key
		{"dn=87ae992c1321f299da3c0210a9900ae7&id=100000", 401},
		{"dn=87ae992c1321f299da3c0210a9900ae7&id=4321", 401},
	} {
		code, body, _ := dnspodGet(t, ta, tc.query)
		if code != tc.code {
			t.Errorf("%s: %d %q, want %d", tc.query, code, body, tc.code)
		}
	}
	text := get(ta.Admin(), "/metrics").Body.String()
	for _, want := range []string{`httpdns_account_requests_total{account="1234"} 2`,
		`httpdns_account_requests_total{account="5678"} 2`, `httpdns_account_requests_total{account="unknown"} 3`} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A replace is validated whole (a bad list changes nothing), swaps the set at once and drops the
// counters of removed accounts, so the label set stays the configured accounts'.
func TestAccountsReplace(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{Accounts: []Account{{ID: "1", Alibaba: &AlibabaAccount{}}, {ID: "2", Alibaba: &AlibabaAccount{}}}})
	get(ta.Public(), "/1/d?host=a.example")
	get(ta.Public(), "/2/d?host=a.example")
	if err := ta.accounts.replace([]Account{{ID: "3"}, {ID: "3"}}); err == nil {
		t.Fatal("a list with a repeated id was accepted")
	}
	if w := get(ta.Public(), "/1/d?host=a.example"); w.Code != 200 {
		t.Fatalf("after a rejected replace: %d %s", w.Code, w.Body)
	}
	if err := ta.accounts.replace([]Account{{ID: "2", Alibaba: &AlibabaAccount{SignedOnly: true}}, {ID: "3", Alibaba: &AlibabaAccount{}}}); err != nil {
		t.Fatal(err)
	}
	wantError(t, get(ta.Public(), "/1/d?host=a.example"), 403, CodeInvalidAccount)
	wantError(t, get(ta.Public(), "/2/d?host=a.example"), 403, CodeUnsignedInterfaceDisabled)
	if w := get(ta.Public(), "/3/d?host=a.example"); w.Code != 200 {
		t.Errorf("new account: %d %s", w.Code, w.Body)
	}
	text := get(ta.Admin(), "/metrics").Body.String()
	if strings.Contains(text, `account="1"`) || !strings.Contains(text, `account="2"} 2`) || !strings.Contains(text, `account="3"} 1`) ||
		!strings.Contains(text, `account="unknown"} 1`) {
		t.Errorf("account series after the replace:\n%s", grepLines(text, "httpdns_account_requests_total"))
	}
}

func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
