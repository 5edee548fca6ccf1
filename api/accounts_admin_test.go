package api

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const adminTok = "admin-token-1"

func adminDo(ta *testAPI, method, body string) (int, string) {
	w := do(ta.Admin(), method, "/admin/accounts", []byte(body), withHeader("Authorization", "Bearer "+adminTok))
	return w.Code, w.Body.String()
}

// GET masks every secret; PUT is validated whole, persisted atomically (0600) and applied; a bad
// upload changes nothing; masked secrets sent back keep their values; the file reloads.
func TestAdminAccounts(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "accounts.json")
	ta := newTestAPI(t, Config{AdminToken: adminTok, AccountsFile: file, Now: func() time.Time { return vectorNow }, Accounts: []Account{
		{ID: "100000", Alibaba: &AlibabaAccount{Secret: "IAmASecret", AESKey: "00112233445566778899aabbccddeeff"}},
		{ID: "1234", DNSPod: &DNSPodAccount{DESKey: "dnspodpass", Token: "tok-1234"}},
	}})
	secrets := []string{"IAmASecret", "00112233445566778899aabbccddeeff", "dnspodpass", "tok-1234", "NewSecret"}
	noSecret := func(where, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s reveals %q: %s", where, s, text)
			}
		}
	}

	code, body := adminDo(ta, http.MethodGet, "")
	want := `{
  "accounts": [
    {
      "id": "100000",
      "alibaba": {
        "secret": "********",
        "aes_key": "********"
      }
    },
    {
      "id": "1234",
      "dnspod": {
        "des_key": "********",
        "token": "********"
      }
    }
  ]
}
`
	if code != 200 || body != want {
		t.Fatalf("GET: %d %s, want %s", code, body, want)
	}
	if w := get(ta.Admin(), "/admin/accounts"); w.Code != 401 {
		t.Errorf("GET without the token: %d", w.Code)
	}

	for _, bad := range []struct{ name, body, text string }{
		{"not JSON", `{"accounts":[`, "not JSON"},
		{"unknown key", `{"accounts":[{"id":"1","alibab":{}}]}`, "unknown field"},
		{"repeated id", `{"accounts":[{"id":"1"},{"id":"1"}]}`, "repeated"},
		{"bad aes key", `{"accounts":[{"id":"1","alibaba":{"aes_key":"NewSecret"}}]}`, "aes_key must be 32 hex"},
		{"mask without a value", `{"accounts":[{"id":"9","alibaba":{"secret":"********"}}]}`, "no alibaba.secret to keep"},
		{"wrong type", `{"accounts":[{"id":1}]}`, "must be string"},
		{"trailing data", `{"accounts":[]} {}`, "trailing data"},
	} {
		code, body := adminDo(ta, http.MethodPut, bad.body)
		if code != 400 || !strings.Contains(body, CodeInvalidAccounts) || !strings.Contains(body, bad.text) {
			t.Errorf("%s: %d %s, want 400 %s about %q", bad.name, code, body, CodeInvalidAccounts, bad.text)
		}
		noSecret(bad.name, body)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a rejected upload wrote the file: %v", err)
	}
	if w := get(ta.Public(), "/100000/sign_d?host=www.aliyun.com&t=1534316400&s=60c71e98b6d7fcbb366243e224eab457"); w.Code != 200 {
		t.Fatalf("after rejected uploads: %d %s", w.Code, w.Body)
	}

	// Send GET's document back with one change: the masked secrets keep their values.
	edited := strings.Replace(want, `"id": "1234"`, `"id": "1234",
      "alibaba": {"secret": "NewSecret", "signed_only": true}`, 1)
	if code, body := adminDo(ta, http.MethodPut, edited); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if w := get(ta.Public(), "/100000/sign_d?host=www.aliyun.com&t=1534316400&s=60c71e98b6d7fcbb366243e224eab457"); w.Code != 200 {
		t.Errorf("the masked secret was not kept: %d %s", w.Code, w.Body)
	}
	wantError(t, get(ta.Public(), "/1234/d?host=a.example"), 403, CodeUnsignedInterfaceDisabled)
	if code, body, _ := dnspodGet(t, ta, "dn=www.dnspod.cn&token=tok-1234"); code != 200 {
		t.Errorf("the masked token was not kept: %d %s", code, body)
	}

	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("accounts file: %v %v", st, err)
	}
	list, err := LoadAccounts(file)
	if err != nil || len(list) != 2 || list[0].Alibaba.Secret != "IAmASecret" || list[1].Alibaba.Secret != "NewSecret" ||
		!list[1].Alibaba.SignedOnly || list[1].DNSPod.Token != "tok-1234" {
		t.Fatalf("LoadAccounts: %+v %v", list, err)
	}
	code, body = adminDo(ta, http.MethodGet, "")
	noSecret("GET", body)
	noSecret("log", ta.log.String())
	noSecret("metrics", get(ta.Admin(), "/metrics").Body.String())
	if code != 200 || !strings.Contains(body, `"signed_only": true`) {
		t.Errorf("GET after PUT: %d %s", code, body)
	}
}

func TestLoadAccountsErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := LoadAccounts(filepath.Join(dir, "none.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"accounts":[{"id":"1","dnspod":{"des_key":"Top7"}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAccounts(bad); err == nil || !strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), "Top7") {
		t.Errorf("bad file: %v", err)
	}
}
