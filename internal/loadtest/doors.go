package main

// The -doors mode: every door's cache hit against /d's on one server, and dnsperf's RFC 8484
// against wrk's /d over TLS.
//
//	go run ./internal/loadtest -doors -duration 5s -rounds 3
//
// It starts `httpdns demo` (for its simulated DNS servers and generated files), then `httpdns
// serve` with the demo's config plus a test account (doorsAccount) and a TLS listener with a
// self-signed certificate made at start. Each door's URL asks the same name for the same client
// subnet and is warmed before the runs, so every measured request is a cache hit. The rounds run
// wrk (closed loop, the same -connections, -threads and -duration for every door) against /d and
// each door in turn (reversed in even rounds); each round's ratio is the door's req/s over /d's in
// that round, and the median ratio over the rounds is what the 15% bar (at least 0.85) is read
// from. Then, when dnsperf is installed (apt-get install dnsperf), the same rounds alternate wrk on
// /d over https and `dnsperf -m doh` (RFC 8484 GET over HTTP/2, the same connections and queries in
// flight) against the TLS listener, with the server's and each client's own CPU per request: on a
// 2-core machine the client shares the cores with the server, so a costlier client lowers the rate.

import (
	"bytes"
	"context"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/httpdns/httpdns/internal/loadtest/demoproc"
	"github.com/miekg/dns"
)

// The test account the doors mode adds to the demo's config.
const (
	doorsAccount = "100000"
	// doorsSecret is the Alibaba secret, in hex as the console issues it (v1 uses the text, v2
	// its bytes).
	doorsSecret = "6c6f6164746573742d736563726574"
	// doorsDESKey is the DNSPod des_key (DES uses its first 8 bytes).
	doorsDESKey = "loadtest"
)

// door is one URL form of the same question.
type door struct {
	name   string
	path   string // path and query, from the server's root
	header string // one request header, "" for none
}

// doorURLs returns each door's request for name and the client ip (its /24 for the doors that take
// a subnet), signed ones valid until expiry; /d is first.
func doorURLs(name string, ip netip.Addr, expiry time.Time) ([]door, error) {
	subnet := netip.PrefixFrom(ip, 24).Masked().String()
	t := strconv.FormatInt(expiry.Unix(), 10)
	v1Sig := md5.Sum([]byte(name + "-" + doorsSecret + "-" + t))
	key, err := hex.DecodeString(doorsSecret)
	if err != nil {
		return nil, err
	}
	v2 := url.Values{"id": {doorsAccount}, "dn": {name}, "cip": {ip.String()}, "exp": {t}}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(v2.Encode())) // Encode sorts by name and the values need no escaping
	v2.Set("s", hex.EncodeToString(mac.Sum(nil)))
	desDN, err := desECBHex([]byte(doorsDESKey), []byte(name))
	if err != nil {
		return nil, err
	}
	wire, err := dohQuery(name, ip)
	if err != nil {
		return nil, err
	}
	q := url.QueryEscape
	return []door{
		{name: "/d", path: "/d?host=" + q(name) + "&ip=" + ip.String()},
		{name: "Alibaba v1 /{id}/d", path: "/" + doorsAccount + "/d?host=" + q(name) + "&ip=" + ip.String()},
		{name: "Alibaba v1 /{id}/sign_d", path: "/" + doorsAccount + "/sign_d?host=" + q(name) + "&ip=" + ip.String() +
			"&t=" + t + "&s=" + hex.EncodeToString(v1Sig[:])},
		{name: "Alibaba v2 /v2/d (signed)", path: "/v2/d?" + v2.Encode()},
		{name: "DNSPod /d?dn= (plain)", path: "/d?dn=" + q(name) + "&ip=" + ip.String() + "&ttl=1"},
		{name: "DNSPod /d?dn= (DES)", path: "/d?dn=" + desDN + "&id=" + doorsAccount + "&alg=des&ip=" + ip.String() + "&ttl=1"},
		{name: "Google JSON /resolve?name=", path: "/resolve?name=" + q(name) + "&type=A&edns_client_subnet=" + subnet},
		{name: "Cloudflare JSON /dns-query?name=", path: "/dns-query?name=" + q(name) + "&type=A&edns_client_subnet=" + subnet,
			header: "Accept: application/dns-json"},
		{name: "RFC 8484 GET /dns-query?dns=", path: "/dns-query?dns=" + base64.RawURLEncoding.EncodeToString(wire),
			header: "Accept: application/dns-message"},
	}, nil
}

// desECBHex encrypts plain as the DNSPod SDKs do: DES-ECB, PKCS#5 padding, hex.
func desECBHex(key, plain []byte) (string, error) {
	c, err := des.NewCipher(key[:des.BlockSize])
	if err != nil {
		return "", err
	}
	n := des.BlockSize - len(plain)%des.BlockSize
	p := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(n)}, n)...)
	for i := 0; i < len(p); i += des.BlockSize {
		c.Encrypt(p[i:i+des.BlockSize], p[i:i+des.BlockSize])
	}
	return hex.EncodeToString(p), nil
}

// dohQuery is an RFC 8484 query for name's A records with the ECS option of ip's /24, ID 0.
func dohQuery(name string, ip netip.Addr) ([]byte, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.Id = 0
	m.SetEdns0(1232, false)
	ecs := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: ip.AsSlice()}
	m.IsEdns0().Option = append(m.IsEdns0().Option, ecs)
	return m.Pack()
}

// ecsOptionHex is the ECS option's value for ip's /24, as dnsperf's -E code:hex takes it.
func ecsOptionHex(ip netip.Addr) string {
	a := ip.As4()
	return fmt.Sprintf("8:0001%02x00%x", 24, a[:3])
}

// runDoors runs the doors mode.
func runDoors(ctx context.Context, o options, stdout io.Writer) error {
	demo, err := demoproc.Start(ctx)
	if err != nil {
		return err
	}
	defer demo.Close()
	u, err := url.Parse(demo.URL)
	if err != nil {
		return err
	}
	name := u.Query().Get("host")
	ip, err := netip.ParseAddr(u.Query().Get("ip"))
	if err != nil || !ip.Is4() {
		return fmt.Errorf("the demo's URL %s has no IPv4 ip=", demo.URL)
	}
	tlsAddr, config, err := writeDoorsConfig(demo.Dir)
	if err != nil {
		return err
	}
	srv, err := demo.ServeConfig(ctx, config)
	if err != nil {
		return err
	}
	defer srv.Stop()
	su, err := url.Parse(srv.URL)
	if err != nil {
		return err
	}
	doors, err := doorURLs(name, ip, time.Now().Add(time.Hour))
	if err != nil {
		return err
	}
	var targets []target
	for _, d := range doors {
		t := target{name: d.name, url: "http://" + su.Host + d.path, pid: srv.PID(), header: d.header}
		if err := warmDoor(ctx, t); err != nil {
			return err
		}
		targets = append(targets, t)
	}
	fmt.Fprintf(stdout, "httpdns serve (pid %d) on %s, TLS %s; demo config plus account %s; %s for %s (cache hits)\n\n",
		srv.PID(), su.Host, tlsAddr, doorsAccount, name, ip)
	if err := doorRounds(ctx, o, targets, stdout); err != nil {
		return err
	}
	if _, err := exec.LookPath("dnsperf"); err != nil {
		fmt.Fprintln(stdout, "dnsperf not found (apt-get install dnsperf): skipping dnsperf -m doh against wrk on /d over TLS")
		return nil
	}
	d := target{name: "wrk /d https", url: "https://" + tlsAddr + doors[0].path, pid: srv.PID()}
	if err := warmDoor(ctx, d); err != nil {
		return err
	}
	return dnsperfRounds(ctx, o, d, tlsAddr, name, ip, stdout)
}

// doorRounds runs wrk against every target in runOrder each round and prints each one's req/s,
// its ratio to the first target's (/d) in the same round and its server CPU per request, then the
// medians.
func doorRounds(ctx context.Context, o options, targets []target, stdout io.Writer) error {
	fmt.Fprintf(stdout, "doors: wrk, closed loop, %d connections, %d threads, %v per run\n", o.connections, o.threads, o.duration)
	rps := make([][]float64, len(targets))
	ratios := make([][]float64, len(targets))
	cpu := make([][]float64, len(targets))
	for i := range o.rounds {
		res := make([]wrkResult, len(targets))
		for _, j := range runOrder(i+1, len(targets)) {
			r, err := wrkRun(ctx, o, targets[j])
			if err != nil {
				return fmt.Errorf("running wrk against %s: %w", targets[j].name, err)
			}
			if r.socketErrs != "" {
				fmt.Fprintf(stdout, "  wrk against %s: %s\n", targets[j].name, r.socketErrs)
			}
			res[j] = r
		}
		fmt.Fprintf(stdout, "round %d:\n", i+1)
		for j, r := range res {
			rps[j] = append(rps[j], r.rps)
			ratios[j] = append(ratios[j], r.rps/res[0].rps)
			cpu[j] = append(cpu[j], float64(r.cpu)/float64(time.Microsecond))
			fmt.Fprintf(stdout, "  %-34s %8.0f req/s  ratio %.2f  server CPU %s/req\n", targets[j].name, r.rps, r.rps/res[0].rps, us(r.cpu))
		}
	}
	fmt.Fprintf(stdout, "median of %d rounds (bar: ratio at least 0.85):\n", o.rounds)
	fmt.Fprintf(stdout, "  | door | req/s | ratio to /d | server CPU µs/req | within 15%% |\n  |---|---:|---:|---:|---|\n")
	for j, t := range targets {
		r := median(ratios[j])
		ok := "yes"
		if r < 0.85 {
			ok = "no"
		}
		fmt.Fprintf(stdout, "  | %s | %.0f | %.2f | %.1f | %s |\n", t.name, median(rps[j]), r, median(cpu[j]), ok)
	}
	fmt.Fprintln(stdout)
	return nil
}

// dnsperfRounds alternates wrk on /d over https (d) and dnsperf -m doh against the TLS listener
// and prints both rates and their ratio each round, then the medians.
func dnsperfRounds(ctx context.Context, o options, d target, tlsAddr, name string, ip netip.Addr, stdout io.Writer) error {
	host, port, err := net.SplitHostPort(tlsAddr)
	if err != nil {
		return err
	}
	qf, err := os.CreateTemp("", "loadtest-dnsperf-*.txt")
	if err != nil {
		return err
	}
	defer os.Remove(qf.Name())
	fmt.Fprintf(qf, "%s A\n", name)
	if err := qf.Close(); err != nil {
		return err
	}
	secs := max(1, int(o.duration.Round(time.Second)/time.Second))
	args := []string{"-m", "doh", "-s", host, "-p", port, "-O", "doh-uri=https://" + tlsAddr + "/dns-query",
		"-O", "doh-method=GET", "-E", ecsOptionHex(ip), "-d", qf.Name(), "-l", strconv.Itoa(secs),
		"-c", strconv.Itoa(o.connections), "-q", strconv.Itoa(o.connections), "-T", strconv.Itoa(o.threads)}
	fmt.Fprintf(stdout, "TLS: wrk %s (HTTP/1.1) against dnsperf %s (RFC 8484 GET, HTTP/2), %v per run\n",
		d.url, strings.Join(args, " "), o.duration)
	var wrkRates, perfRates, ratios, wrkCPU, perfCPU, wrkOwn, perfOwn []float64
	for i := range o.rounds {
		var w wrkResult
		var p dnsperfResult
		for _, j := range runOrder(i+1, 2) {
			if j == 0 {
				if w, err = wrkRun(ctx, o, d); err != nil {
					return fmt.Errorf("running wrk over TLS: %w", err)
				}
				continue
			}
			if p, err = dnsperfRun(ctx, args, d.pid); err != nil {
				return err
			}
		}
		wrkRates, perfRates, ratios = append(wrkRates, w.rps), append(perfRates, p.qps), append(ratios, p.qps/w.rps)
		wrkCPU, perfCPU = append(wrkCPU, float64(w.cpu)/1e3), append(perfCPU, float64(p.cpu)/1e3)
		wrkOwn, perfOwn = append(wrkOwn, float64(w.clientCPU)/1e3), append(perfOwn, float64(p.clientCPU)/1e3)
		fmt.Fprintf(stdout, "round %d: wrk /d over https %.0f req/s, dnsperf -m doh %.0f queries/s, ratio %.2f; "+
			"server CPU/req wrk %s, dnsperf %s; the client's own CPU/req wrk %s, dnsperf %s\n",
			i+1, w.rps, p.qps, p.qps/w.rps, us(w.cpu), us(p.cpu), us(w.clientCPU), us(p.clientCPU))
	}
	fmt.Fprintf(stdout, "median: wrk /d over https %.0f req/s, dnsperf -m doh %.0f queries/s, ratio %.2f; "+
		"server CPU µs/req wrk %.1f, dnsperf %.1f; the client's own CPU µs/req wrk %.1f, dnsperf %.1f\n",
		median(wrkRates), median(perfRates), median(ratios), median(wrkCPU), median(perfCPU), median(wrkOwn), median(perfOwn))
	return nil
}

// dnsperfResult is one dnsperf run.
type dnsperfResult struct {
	qps float64
	// cpu is the server's CPU time per query over the run, clientCPU dnsperf's own.
	cpu, clientCPU time.Duration
}

// dnsperfRun runs dnsperf with args and measures the server pid's CPU over it.
func dnsperfRun(ctx context.Context, args []string, pid int) (dnsperfResult, error) {
	meter, err := startCPU(pid)
	if err != nil {
		return dnsperfResult{}, err
	}
	cmd := exec.CommandContext(ctx, "dnsperf", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return dnsperfResult{}, fmt.Errorf("running dnsperf: %w\n%s", err, out)
	}
	qps, completed, err := parseDnsperf(out)
	if err != nil {
		return dnsperfResult{}, err
	}
	r := dnsperfResult{qps: qps, clientCPU: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()) / time.Duration(completed)}
	r.cpu, err = meter.perRequest(completed)
	return r, err
}

var (
	dnsperfQPS       = regexp.MustCompile(`(?m)^\s*Queries per second:\s+([0-9.]+)\s*$`)
	dnsperfCompleted = regexp.MustCompile(`(?m)^\s*Queries completed:\s+([0-9]+)`)
	dnsperfNoError   = regexp.MustCompile(`(?m)^\s*Response codes:\s+NOERROR\s+([0-9]+)`)
)

// parseDnsperf reads dnsperf's queries per second and completed queries. It is an error when it
// printed none, completed no query or saw a response code other than NOERROR: then it did not
// measure cache hits.
func parseDnsperf(out []byte) (qps float64, completed int, err error) {
	m, c, n := dnsperfQPS.FindSubmatch(out), dnsperfCompleted.FindSubmatch(out), dnsperfNoError.FindSubmatch(out)
	if m == nil || c == nil || n == nil || string(c[1]) != string(n[1]) || string(c[1]) == "0" {
		return 0, 0, fmt.Errorf("unusable dnsperf output (no rate, or answers other than NOERROR):\n%s", out)
	}
	qps, err1 := strconv.ParseFloat(string(m[1]), 64)
	completed, err2 := strconv.Atoi(string(c[1]))
	return qps, completed, errors.Join(err1, err2)
}

// warmDoor asks t's URL three times; each must answer 200, so its answer is cached.
func warmDoor(ctx context.Context, t target) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // the self-signed certificate
	defer client.CloseIdleConnections()
	for range 3 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
		if err != nil {
			return err
		}
		if k, v, ok := strings.Cut(t.header, ": "); ok {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("warming %s: %w", t.name, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			return fmt.Errorf("warming %s (%s): status %d, body %q", t.name, t.url, resp.StatusCode, body)
		}
	}
	return nil
}

// writeDoorsConfig writes a self-signed certificate and a config (the demo's, with the test
// account and a TLS listener on a free loopback port appended) into dir, and returns the TLS
// address and the config's path.
func writeDoorsConfig(dir string) (tlsAddr, path string, err error) {
	base, err := os.ReadFile(filepath.Join(dir, "httpdns.yaml"))
	if err != nil {
		return "", "", err
	}
	if err := writeSelfSigned(dir); err != nil {
		return "", "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	tlsAddr = ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`%s
accounts:
  - id: %q
    alibaba:
      secret: %q
    dnspod:
      des_key: %q
accounts_file: doors-accounts.json
tls:
  listen: %q
  cert: doors-cert.pem
  key: doors-key.pem
`, base, doorsAccount, doorsSecret, doorsDESKey, tlsAddr)
	path = filepath.Join(dir, "httpdns-doors.yaml")
	return tlsAddr, path, os.WriteFile(path, []byte(cfg), 0o600)
}

// writeSelfSigned writes a self-signed ECDSA certificate for 127.0.0.1, valid for a day, into dir
// as doors-cert.pem and doors-key.pem (the clients here do not verify it).
func writeSelfSigned(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "httpdns loadtest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, "doors-cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644),
		os.WriteFile(filepath.Join(dir, "doors-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600))
}
