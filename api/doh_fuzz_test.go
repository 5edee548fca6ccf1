package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/miekg/dns"
)

// FuzzDoH POSTs arbitrary bytes to /dns-query: never a panic or a 500; a 200 is a DNS response with
// the query's ID and question, anything else a 400 with a JSON body.
//
//	go test ./api -run '^$' -fuzz FuzzDoH -fuzztime 10s
func FuzzDoH(f *testing.F) {
	for _, m := range []*dns.Msg{
		new(dns.Msg).SetQuestion("api.example.com.", dns.TypeA),
		new(dns.Msg).SetQuestion("nx.example.com.", dns.TypeAAAA),
		new(dns.Msg).SetQuestion("mx.example.com.", dns.TypeMX),
		withECS(new(dns.Msg).SetQuestion("ecs.example.com.", dns.TypeA), "20.1.2.0/24"),
		withECS(new(dns.Msg).SetQuestion("ecs.example.com.", dns.TypeAAAA), "2001:db8::/56"),
	} {
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Add([]byte{0, 0, 0})
	a, err := New(Config{Resolver: &fakeResolver{}})
	if err != nil {
		f.Fatal(err)
	}
	h := a.Public()
	f.Fuzz(func(t *testing.T, wire []byte) {
		r := httptest.NewRequest(http.MethodPost, "/dns-query", bytes.NewReader(wire))
		r.Header.Set("Content-Type", "application/dns-message")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
			var q, m dns.Msg
			if err := q.Unpack(wire); err != nil {
				t.Fatalf("200 for a message that does not unpack: %v", err)
			}
			if err := m.Unpack(w.Body.Bytes()); err != nil {
				t.Fatalf("unpacking the reply: %v", err)
			}
			if m.Id != q.Id || !m.Response || len(m.Question) != 1 || m.Question[0] != q.Question[0] {
				t.Fatalf("reply %v to query %v", &m, &q)
			}
		case http.StatusBadRequest:
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("400 body %q is not JSON", w.Body)
			}
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}

// FuzzDNSJSON sends arbitrary raw query strings to the Google and Cloudflare JSON doors: never a
// panic or a 500, always one JSON value, and a 200's Question is the name asked.
//
//	go test ./api -run '^$' -fuzz FuzzDNSJSON -fuzztime 10s
func FuzzDNSJSON(f *testing.F) {
	for _, s := range []string{
		"name=example.com", "name=example.com.&type=MX", "name=a..b", "name=x&type=65535", "name=x&type=TYPE99",
		"name=x&edns_client_subnet=1.2.3.0/24", "name=x&edns_client_subnet=::/0&cd=1&do=true", "name=%zz",
		"name=\\065.com", "name=.", "name=x&ct=application/dns-message",
	} {
		f.Add(s)
	}
	a, err := New(Config{Resolver: &fakeResolver{}})
	if err != nil {
		f.Fatal(err)
	}
	h := a.Public()
	f.Fuzz(func(t *testing.T, raw string) {
		for _, path := range []string{"/resolve", "/dns-query"} {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.URL.RawQuery = "name=&" + raw // name= present: always the JSON door
			if p := parseJSONParams(raw); p.name.set {
				r.URL.RawQuery = raw
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			switch w.Code {
			case http.StatusOK:
				if w.Header().Get("Content-Type") == "application/dns-message" {
					continue
				}
				var got struct{ Question []struct{ Name string } }
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || len(got.Question) != 1 {
					t.Fatalf("%s?%s: body %q", path, raw, w.Body)
				}
			case http.StatusBadRequest, http.StatusRequestURITooLong:
				if !json.Valid(w.Body.Bytes()) {
					t.Fatalf("%s?%s: body %q is not JSON", path, raw, w.Body)
				}
			default:
				t.Fatalf("%s?%s: status %d: %s", path, raw, w.Code, w.Body)
			}
		}
	})
}
