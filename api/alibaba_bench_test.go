package api

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/httpdns/httpdns/resolver"
)

// The Alibaba doors' cache-hit cost beside /d's (issue 9: each door's hit path within 15% of /d's),
// handlers alone, in one run:
//
//	go test ./api -run '^$' -bench 'BenchmarkD$|Alibaba' -benchmem

func benchAliAPI(b *testing.B) http.Handler {
	b.Helper()
	reg := prometheus.NewRegistry()
	a, err := New(Config{
		Resolver: fixedResolver{resolver.Answer{
			Name: "api.example.com", Qtype: resolver.TypeA, TTL: 57, OriginTTL: 60,
			IPs:   []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")},
			Scope: "192.0.2.0/24", Tier: "subnet", Source: "hit",
		}},
		Accounts: []Account{
			{ID: "100000", Alibaba: &AlibabaAccount{Secret: "IAmASecret"}},
			{ID: "200000", Alibaba: &AlibabaAccount{Secret: v2Secret, AESKey: v2AESKey}},
		},
		Now:        func() time.Time { return vectorNow },
		Registerer: reg, Gatherer: reg,
	})
	if err != nil {
		b.Fatal(err)
	}
	return a.Public()
}

// BenchmarkAlibabaV1D is a cache-hit unsigned /{account}/d.
func BenchmarkAlibabaV1D(b *testing.B) {
	serveLoop(b, benchAliAPI(b), "/100000/d?host=api.example.com")
}

// BenchmarkAlibabaV1SignD is a cache-hit /{account}/sign_d with the published vector (docs/design.md §10.3).
func BenchmarkAlibabaV1SignD(b *testing.B) {
	serveLoop(b, benchAliAPI(b), "/100000/sign_d?host=www.aliyun.com&t=1534316400&s=60c71e98b6d7fcbb366243e224eab457")
}

// BenchmarkAlibabaV2 is a cache-hit plain, HMAC-signed /v2/d.
func BenchmarkAlibabaV2(b *testing.B) {
	exp := strconv.FormatInt(vectorNow.Unix()+600, 10)
	q := v2Query(map[string]string{"id": "200000", "dn": "api.example.com", "exp": exp, "v": "1.0"}, v2Secret)
	serveLoop(b, benchAliAPI(b), "/v2/d?"+q)
}

// BenchmarkAlibabaV2GCM is a cache-hit AES-128-GCM /v2/d, request and answer encrypted.
func BenchmarkAlibabaV2GCM(b *testing.B) {
	t := &testing.T{}
	exp := strconv.FormatInt(vectorNow.Unix()+600, 10)
	q := v2Query(map[string]string{"id": "200000", "m": "2", "enc": v2Encrypt(t, 2, `{"dn":"api.example.com"}`), "exp": exp}, v2Secret)
	serveLoop(b, benchAliAPI(b), "/v2/d?"+q)
}

// BenchmarkAlibabaV1SignDServer is BenchmarkAlibabaV1SignD on loopback, beside BenchmarkDServer:
//
//	go test ./api -run '^$' -bench 'BenchmarkDServer|Alibaba.*Server' -benchmem
func BenchmarkAlibabaV1SignDServer(b *testing.B) {
	serveConns(b, benchAliAPI(b), "/100000/sign_d?host=www.aliyun.com&t=1534316400&s=60c71e98b6d7fcbb366243e224eab457")
}

// BenchmarkAlibabaV2Server is BenchmarkAlibabaV2 on loopback, beside BenchmarkDServer.
func BenchmarkAlibabaV2Server(b *testing.B) {
	exp := strconv.FormatInt(vectorNow.Unix()+600, 10)
	q := v2Query(map[string]string{"id": "200000", "dn": "api.example.com", "exp": exp, "v": "1.0"}, v2Secret)
	serveConns(b, benchAliAPI(b), "/v2/d?"+q)
}
