package main

import (
	"context"
	"crypto/des"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/loadtest/demoproc"
	"github.com/miekg/dns"
)

// TestDoorURLsAnswer builds httpdns, serves the doors config beside the demo and checks that every
// door's URL (signed, encrypted, JSON and RFC 8484) gets /d's addresses, over HTTP and /d over TLS
// too: a wrong signature, key or query would measure an error path instead of a cache hit.
func TestDoorURLsAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs httpdns")
	}
	ctx := context.Background()
	demo, err := demoproc.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer demo.Close()
	tlsAddr, config, err := writeDoorsConfig(demo.Dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := demo.ServeConfig(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	su, _ := url.Parse(srv.URL)
	name, ip := su.Query().Get("host"), netip.MustParseAddr(su.Query().Get("ip"))
	doors, err := doorURLs(name, ip, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		IPs []string `json:"ips"`
	}
	if err := json.Unmarshal([]byte(get(t, "http://"+su.Host+doors[0].path, "")), &d); err != nil || len(d.IPs) == 0 {
		t.Fatalf("/d: %v %v", d, err)
	}
	want := d.IPs[0]
	for _, door := range doors {
		body := get(t, "http://"+su.Host+door.path, door.header)
		switch {
		case strings.Contains(door.name, "DES"):
			body = desDecryptHex(t, body)
		case strings.HasPrefix(door.name, "RFC 8484"):
			var m dns.Msg
			if err := m.Unpack([]byte(body)); err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
				t.Errorf("%s: %v, %v", door.name, m.String(), err)
				continue
			}
			body = m.Answer[0].String()
		}
		if !strings.Contains(body, want) {
			t.Errorf("%s (%s) answered %q, want %s in it", door.name, door.path, body, want)
		}
	}
	if body := get(t, "https://"+tlsAddr+doors[0].path, ""); !strings.Contains(body, want) {
		t.Errorf("/d over TLS answered %q", body)
	}
	// An expired signature is refused: the signed doors' URLs are checked, not waved through.
	old, err := doorURLs(name, ip, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, door := range old[2:4] {
		if err := warmDoor(ctx, target{name: door.name, url: "http://" + su.Host + door.path}); err == nil {
			t.Errorf("%s with an expired signature answered 200", door.name)
		}
	}
}

// get fetches u (not verifying TLS certificates) with header and wants 200.
func get(t *testing.T, u, header string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k, v, ok := strings.Cut(header, ": "); ok {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s %v", u, resp.StatusCode, b, err)
	}
	return string(b)
}

func desDecryptHex(t *testing.T, h string) string {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimSpace(h))
	c, _ := des.NewCipher([]byte(doorsDESKey)[:8])
	if err != nil || len(b) == 0 || len(b)%8 != 0 {
		t.Fatalf("DES answer %q: %v", h, err)
	}
	for i := 0; i < len(b); i += 8 {
		c.Decrypt(b[i:i+8], b[i:i+8])
	}
	return string(b)
}

// TestDESECBHex checks the DNSPod encryption against a known DES-ECB vector with PKCS#5 padding.
func TestDESECBHex(t *testing.T) {
	// A full block of padding follows an 8-byte plaintext.
	got, err := desECBHex([]byte("loadtest"), []byte("abcdefgh"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := des.NewCipher([]byte("loadtest"))
	b, _ := hex.DecodeString(got)
	if len(b) != 16 {
		t.Fatalf("%s: %d bytes, want 16", got, len(b))
	}
	c.Decrypt(b[:8], b[:8])
	c.Decrypt(b[8:], b[8:])
	if string(b[:8]) != "abcdefgh" || string(b[8:]) != strings.Repeat("\x08", 8) {
		t.Errorf("decrypts to %q", b)
	}
}

// TestECSOptionHex checks dnsperf's -E value and the ECS option miekg/dns packs in the RFC 8484
// query, so both clients ask for the same subnet.
func TestECSOptionHex(t *testing.T) {
	ip := netip.MustParseAddr("20.0.16.217")
	wire, err := dohQuery("img.cdn-a.test", ip)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 7871 §6: family 1, source prefix 24, scope 0, the address's first 3 bytes; the query's
	// OPT record, the last in the message, ends with this option alone.
	const want = "8:00011800140010"
	if got := ecsOptionHex(ip); got != want {
		t.Errorf("ecsOptionHex = %s, want %s", got, want)
	}
	if got := hex.EncodeToString(wire); !strings.HasSuffix(got, "0008"+"0007"+want[2:]) {
		t.Errorf("the RFC 8484 query %s does not end with the ECS option %s", got, want)
	}
	if got := base64.RawURLEncoding.EncodeToString(wire); strings.ContainsAny(got, "+/=") {
		t.Errorf("dns= %s is not base64url", got)
	}
}

func TestParseDnsperf(t *testing.T) {
	ok := `Statistics:

  Queries sent:         24120
  Queries completed:    24120 (100.00%)
  Queries lost:         0 (0.00%)

  Response codes:       NOERROR 24120 (100.00%)
  Average packet size:  request 44, response 60
  Run time (s):         2.001
  Queries per second:   12060.000000
`
	if qps, n, err := parseDnsperf([]byte(ok)); err != nil || qps != 12060 || n != 24120 {
		t.Errorf("parseDnsperf = %v, %d, %v", qps, n, err)
	}
	for _, bad := range []string{
		strings.Replace(ok, "NOERROR 24120 (100.00%)", "NOERROR 12060 (50.00%), SERVFAIL 12060 (50.00%)", 1),
		strings.Replace(ok, "  Queries per second:   12060.000000\n", "", 1),
		"[Status] Command line: dnsperf\n[Timeout] Query timed out\n",
	} {
		if _, _, err := parseDnsperf([]byte(bad)); err == nil {
			t.Errorf("parseDnsperf accepted:\n%s", bad)
		}
	}
}
