package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzQuery sends arbitrary raw query strings to /d and /resolve: the answer is never a 500 or a
// panic, always one valid JSON value, and its status is 200, 400, 414 (a query string over
// MaxQueryBytes) or 503 (the fake resolver fails names starting with "fail.").
//
//	go test ./api -run '^$' -fuzz FuzzQuery -fuzztime 5s
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"host=api.example.com", "host=api.example.com&query=4,6", "host=a.com,b.com&query=6,4&ip=1.2.3.4",
		"host=fail.example.com", "host=nx.example.com&query=6", "host=a%zz", "ip=%", "host=&ip=::1%25x",
		"host=1.2.3.4", "host=a.com&query=4%2C6", "host=" + string(make([]byte, 300)), "host=a.com,,b",
		"host=a.com&ip=fe80::1%25eth0", "&&&===", "host=a.com;x", "host=%E4%BE%8B.cn",
	} {
		f.Add(s)
	}
	a, err := New(Config{Resolver: &fakeResolver{}})
	if err != nil {
		f.Fatal(err)
	}
	h := a.Public()
	f.Fuzz(func(t *testing.T, raw string) {
		for _, path := range []string{"/d", "/resolve"} {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.URL.RawQuery = raw
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			switch w.Code {
			case http.StatusOK, http.StatusBadRequest, http.StatusRequestURITooLong, http.StatusServiceUnavailable:
			default:
				t.Fatalf("%s?%s: status %d: %s", path, raw, w.Code, w.Body)
			}
			if !json.Valid(w.Body.Bytes()) || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%s?%s: not a JSON answer: %q", path, raw, w.Body)
			}
			if w.Code == http.StatusOK {
				checkShape(t, path, w.Body.Bytes())
			}
		}
	})
}

// checkShape checks a 200 answer has its arrays: ips and ipsv6 for /d, dns and each ips for /resolve.
func checkShape(t *testing.T, path string, body []byte) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if path == "/d" {
		for _, k := range []string{"ips", "ipsv6"} {
			if len(v[k]) == 0 || v[k][0] != '[' {
				t.Fatalf("/d answer without %s array: %s", k, body)
			}
		}
		return
	}
	var elems []map[string]json.RawMessage
	if err := json.Unmarshal(v["dns"], &elems); err != nil || len(elems) == 0 {
		t.Fatalf("/resolve answer without dns elements: %s", body)
	}
	for _, e := range elems {
		if len(e["ips"]) == 0 || e["ips"][0] != '[' {
			t.Fatalf("/resolve element without ips array: %s", body)
		}
	}
}
