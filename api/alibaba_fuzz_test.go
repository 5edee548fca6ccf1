package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

// FuzzAlibabaQuery sends arbitrary raw query strings to every Alibaba path: the answer is never a
// 500 or a panic, always one JSON value, with a status the doors document.
//
//	go test ./api -run '^$' -fuzz FuzzAlibabaQuery -fuzztime 5s
func FuzzAlibabaQuery(f *testing.F) {
	for _, s := range []string{
		"host=www.aliyun.com&t=1534316400&s=60c71e98b6d7fcbb366243e224eab457",
		"host=a.com,b.com&query=4,6&ip=1.2.3.4&sdk=android_2.4.3&sdns-k=v",
		"id=200000&dn=a.com,b.com&q=4,6&cip=1.2.3.4&exp=1534316500&s=00",
		"id=200000&m=2&enc=00112233&exp=1534316500", "id=200000&m=1&enc=" + string(bytes.Repeat([]byte("ab"), 32)),
		"id=%zz", "host=%", "t=-1&s=&host=a.com", "id=200000&dn=nx.example&q=6", "&&==&",
	} {
		f.Add(s)
	}
	a, err := New(Config{Resolver: &fakeResolver{}, Accounts: []Account{
		{ID: "100000", Alibaba: &AlibabaAccount{Secret: "IAmASecret"}},
		{ID: "200000", Alibaba: &AlibabaAccount{Secret: v2Secret, AESKey: v2AESKey}},
	}, Now: func() time.Time { return vectorNow }})
	if err != nil {
		f.Fatal(err)
	}
	h := a.Public()
	f.Fuzz(func(t *testing.T, raw string) {
		for _, path := range []string{"/100000/d", "/100000/sign_d", "/100000/resolve", "/100000/sign_resolve", "/100000/ss", "/v2/d"} {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.URL.RawQuery = raw
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			switch w.Code {
			case http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestURITooLong, http.StatusServiceUnavailable:
			default:
				t.Fatalf("%s?%s: status %d: %s", path, raw, w.Code, w.Body)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%s?%s: not JSON: %q", path, raw, w.Body)
			}
		}
	})
}

// FuzzParseAccounts feeds arbitrary bytes to the accounts document parser: no panic, and a document
// it accepts formats (unmasked) to one it parses back to the same accounts.
//
//	go test ./api -run '^$' -fuzz FuzzParseAccounts -fuzztime 5s
func FuzzParseAccounts(f *testing.F) {
	f.Add([]byte(`{"accounts":[{"id":"1","alibaba":{"secret":"aa","aes_key":"00112233445566778899aabbccddeeff","signed_only":true}},{"id":"2","dnspod":{"des_key":"dnspodpass","token":"t"}}]}`))
	f.Add([]byte(`{"accounts":[]}`))
	f.Add([]byte(`{"accounts":[{"id":"\u00e9"}]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := parseAccounts(data)
		if err != nil {
			return
		}
		again, err := parseAccounts(formatAccounts(list, false))
		if err != nil {
			t.Fatalf("formatted accounts do not parse: %v", err)
		}
		if len(list) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(list, again) {
			t.Fatalf("round trip: %+v became %+v", list, again)
		}
	})
}
