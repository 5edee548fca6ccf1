package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// fakeHTTPDNS is an httptest server speaking the wire format of /d and /resolve with fixed
// answers; it records the query string of the last request.
type fakeHTTPDNS struct {
	*httptest.Server
	mu   sync.Mutex
	last *url.URL
}

// oneJSON is the fixture for /d?host=api.example.com.
const oneJSON = `{"host":"api.example.com","client_ip":"203.0.113.9","ips":["192.0.2.1","192.0.2.2"],` +
	`"ipsv6":["2001:db8::1"],"ttl":60,"origin_ttl":120,"scope":"1.2.0.0/22","extra":true}`

func newFakeHTTPDNS(t *testing.T) *fakeHTTPDNS {
	t.Helper()
	f := &fakeHTTPDNS{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /d", f.serveOne)
	mux.HandleFunc("GET /resolve", f.serveBatch)
	mux.HandleFunc("GET /slow/d", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeHTTPDNS) record(r *http.Request) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = r.URL
	return r.URL.Query()
}

func (f *fakeHTTPDNS) lastRequest() *url.URL {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func (f *fakeHTTPDNS) serveOne(w http.ResponseWriter, r *http.Request) {
	q := f.record(r)
	switch q.Get("host") {
	case "api.example.com":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(oneJSON))
	case "nx.example.com":
		_, _ = w.Write([]byte(`{"host":"nx.example.com","client_ip":"127.0.0.1","ips":[],"ipsv6":[],"ttl":30,"origin_ttl":300}`))
	case "garbage.example.com":
		_, _ = w.Write([]byte(`<html>hello</html>`))
	case "bad..name":
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"code":"InvalidHost","message":"\"bad..name\" is not a domain name"}`))
	default:
		http.Error(w, "upstream exploded", http.StatusBadGateway)
	}
}

func (f *fakeHTTPDNS) serveBatch(w http.ResponseWriter, r *http.Request) {
	f.record(r)
	_, _ = w.Write([]byte(`{"dns":[` +
		`{"host":"a.example.com","client_ip":"127.0.0.1","ips":["192.0.2.10"],"type":1,"ttl":10,"origin_ttl":600},` +
		`{"host":"a.example.com","client_ip":"127.0.0.1","ips":["2001:db8::10"],"type":28,"ttl":11,"origin_ttl":601},` +
		`{"host":"b.example.com","client_ip":"127.0.0.1","ips":[],"type":1,"ttl":20,"origin_ttl":20}]}`))
}

// table splits printed output into lines of fields.
func table(s string) [][]string {
	var rows [][]string
	for line := range strings.Lines(s) {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func TestResolvePrintsTable(t *testing.T) {
	t.Parallel()
	header := []string{"HOST", "TYPE", "IPS", "TTL", "ORIGIN_TTL", "SCOPE"}
	rowA := []string{"api.example.com", "A", "192.0.2.1,192.0.2.2", "60", "120", "1.2.0.0/22"}
	rowAAAA := []string{"api.example.com", "AAAA", "2001:db8::1", "60", "120", "1.2.0.0/22"}
	tests := []struct {
		name      string
		args      []string
		wantPath  string
		wantQuery url.Values
		want      [][]string
	}{
		{"one name", []string{"api.example.com"}, "/d", url.Values{"host": {"api.example.com"}},
			[][]string{header, rowA, rowAAAA}},
		{"client and types", []string{"-ip", "203.0.113.9", "-query", "4,6", "api.example.com"}, "/d",
			url.Values{"host": {"api.example.com"}, "ip": {"203.0.113.9"}, "query": {"4,6"}},
			[][]string{header, rowA, rowAAAA}},
		{"no such name", []string{"-query", "4", "nx.example.com"}, "/d", url.Values{"host": {"nx.example.com"}, "query": {"4"}},
			[][]string{header[:5], {"nx.example.com", "A", "-", "30", "300"}}},
		{"no such name, both types", []string{"-query", "6,4", "nx.example.com"}, "/d",
			url.Values{"host": {"nx.example.com"}, "query": {"6,4"}},
			[][]string{header[:5], {"nx.example.com", "A", "-", "30", "300"}, {"nx.example.com", "AAAA", "-", "30", "300"}}},
		{"no such name, IPv6 only", []string{"-query", "6", "nx.example.com"}, "/d",
			url.Values{"host": {"nx.example.com"}, "query": {"6"}},
			[][]string{header[:5], {"nx.example.com", "AAAA", "-", "30", "300"}}},
		{"several names", []string{"-query", "4,6", "a.example.com", "b.example.com"}, "/resolve",
			url.Values{"host": {"a.example.com,b.example.com"}, "query": {"4,6"}},
			[][]string{header[:5],
				{"a.example.com", "A", "192.0.2.10", "10", "600"},
				{"a.example.com", "AAAA", "2001:db8::10", "11", "601"},
				{"b.example.com", "A", "-", "20", "20"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newFakeHTTPDNS(t)
			var stdout, stderr bytes.Buffer
			args := append([]string{"resolve", "-server", srv.URL}, tt.args...)
			if err := run(t.Context(), args, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v (stderr %q)", err, stderr.String())
			}
			got := srv.lastRequest()
			if got.Path != tt.wantPath || !equalValues(got.Query(), tt.wantQuery) {
				t.Errorf("server saw %s?%s, want %s?%s", got.Path, got.RawQuery, tt.wantPath, tt.wantQuery.Encode())
			}
			if rows := table(stdout.String()); !slices.EqualFunc(rows, tt.want, slices.Equal) {
				t.Errorf("printed\n%s\nwant rows %q", stdout.String(), tt.want)
			}
		})
	}
}

func equalValues(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestResolveJSON(t *testing.T) {
	t.Parallel()
	srv := newFakeHTTPDNS(t)
	var stdout, stderr bytes.Buffer
	// No scheme: the client assumes http://.
	server := strings.TrimPrefix(srv.URL, "http://")
	if err := run(t.Context(), []string{"resolve", "-server", server, "-json", "api.example.com"}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v", err)
	}
	if stdout.String() != oneJSON+"\n" {
		t.Errorf("printed %q, want the server's body %q", stdout.String(), oneJSON)
	}
	if !json.Valid(stdout.Bytes()) {
		t.Errorf("printed invalid JSON %q", stdout.String())
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	srv := newFakeHTTPDNS(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	tests := []struct {
		name   string
		server string
		args   []string
		want   string
		check  func(error) bool
	}{
		{"server's JSON error", srv.URL, []string{"bad..name"}, `server said InvalidHost: "bad..name" is not a domain name`,
			func(err error) bool {
				var se *ServerError
				return errors.As(err, &se) && se.Status == http.StatusBadRequest && se.Code == "InvalidHost"
			}},
		{"server's JSON error with -json", srv.URL, []string{"-json", "bad..name"}, "server said InvalidHost", nil},
		{"error without JSON", srv.URL, []string{"down.example.com"}, "server answered 502 Bad Gateway", nil},
		{"garbage reply", srv.URL, []string{"garbage.example.com"}, "decoding the server's /d reply", nil},
		{"connection refused", closedURL, []string{"api.example.com"}, "asking the server",
			func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }},
		{"timeout", srv.URL + "/slow", []string{"-timeout", "100ms", "api.example.com"}, "asking the server",
			func(err error) bool {
				var ue *url.Error
				return errors.As(err, &ue) && ue.Timeout()
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			args := append([]string{"resolve", "-server", tt.server}, tt.args...)
			err := run(t.Context(), args, &stdout, &stderr)
			if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v, want an error containing %q", err, tt.want)
			}
			if tt.check != nil && !tt.check(err) {
				t.Errorf("error %#v is not of the expected kind", err)
			}
			if stdout.Len() > 0 {
				t.Errorf("printed %q on stdout despite the error", stdout.String())
			}
		})
	}
}
