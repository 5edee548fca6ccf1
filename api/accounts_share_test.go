package api

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fleetPublisher stands for the fleet: it records what is published and applies it as every node
// would, or fails with err.
type fleetPublisher struct {
	api       *API
	published [][]byte
	err       error
}

func (p *fleetPublisher) PublishAccounts(doc []byte) error {
	if p.err != nil {
		return p.err
	}
	p.published = append(p.published, doc)
	return p.api.ApplyAccounts(doc)
}

// Shared with a fleet, an upload is published with every secret's value and applied through
// ApplyAccounts; a mask is refused while the node serves its own config's accounts (their secrets
// are the node's own) and keeps the fleet's value once the fleet's document is in force; a conflict
// or an unreachable fleet changes nothing.
func TestAdminAccountsShared(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "accounts.json")
	ta := newTestAPI(t, Config{AdminToken: adminTok, AccountsFile: file, Accounts: []Account{
		{ID: "100000", Alibaba: &AlibabaAccount{Secret: "FromMyEnv"}},
	}})
	pub := &fleetPublisher{api: ta.API}
	ta.ShareAccounts(pub, false)

	masked := `{"accounts":[{"id":"100000","alibaba":{"secret":"********"}}]}`
	code, body := adminDo(ta, http.MethodPut, masked)
	if code != 400 || !strings.Contains(body, "InvalidAccounts") || strings.Contains(body, "FromMyEnv") {
		t.Errorf("masked upload over the node's own accounts: %d %s, want 400 InvalidAccounts", code, body)
	}
	if len(pub.published) != 0 {
		t.Errorf("published %q, want nothing", pub.published)
	}

	code, body = adminDo(ta, http.MethodPut, `{"accounts":[{"id":"100000","alibaba":{"secret":"Shared1"}}]}`)
	if code != 200 || len(pub.published) != 1 || !strings.Contains(string(pub.published[0]), `"Shared1"`) {
		t.Fatalf("upload: %d %s, published %q", code, body, pub.published)
	}
	if got, _ := os.ReadFile(file); string(got) != string(pub.published[0]) {
		t.Errorf("accounts file %q, want the published document", got)
	}
	// Now a mask keeps the fleet's value.
	if code, body = adminDo(ta, http.MethodPut, `{"accounts":[{"id":"100000","alibaba":{"secret":"********","signed_only":true}}]}`); code != 200 {
		t.Fatalf("masked upload over the fleet's accounts: %d %s", code, body)
	}
	if doc := string(pub.published[1]); !strings.Contains(doc, `"Shared1"`) || !strings.Contains(doc, `"signed_only": true`) {
		t.Errorf("published %s, want Shared1 kept and signed_only set", doc)
	}

	for _, tc := range []struct {
		err  error
		code int
		want string
	}{
		{&VersionConflictError{Kind: "accounts", Current: 7}, 409, "the accounts was changed on another node: the current version is 7"},
		{fmt.Errorf("%w: dial tcp: refused", ErrFleetUnavailable), 503, "FleetUnavailable"},
	} {
		pub.err = tc.err
		code, body = adminDo(ta, http.MethodPut, `{"accounts":[{"id":"100000","alibaba":{"secret":"Lost"}}]}`)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("upload with the fleet failing %v: %d %s, want %d %q", tc.err, code, body, tc.code, tc.want)
		}
	}
	if got := ta.accounts.lookup("100000"); got == nil || got.Alibaba.Secret != "Shared1" || !got.Alibaba.SignedOnly {
		t.Errorf("after refused uploads the account is %+v, want the last published", got)
	}
	if err := ta.ApplyAccounts([]byte(`{"accounts":[{"id":""}]}`)); err == nil {
		t.Error("ApplyAccounts took an account without an id")
	}
	if err := CheckAccountsDocument([]byte(`{"accounts":[{"id":"a","dnspod":{"des_key":"short"}}]}`)); err == nil {
		t.Error("CheckAccountsDocument took a 5-byte DES key")
	}
}
