// Command httpdns-dial fetches a URL through the httpdns Go client and says which IP served it and
// where the address came from (cache, stale, server, localdns):
//
//	httpdns-dial -server http://127.0.0.1:8053 https://api.example.com/
//	httpdns-dial -server https://httpdns.example.com -api alibaba_v1 -account 100000 -secret S URL
//
// The URL keeps its host name, so TLS sends and verifies the name while the connection goes to the
// address httpdns chose. It prints the response status, the address, the source, the dial's
// attempts and timings, then the body unless -quiet.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/httpdns/httpdns/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// errUsage marks a command line that cannot be used; the usage has been printed.
var errUsage = errors.New("usage")

// exitCode is the exit status for run's error, as httpdns's own: 0 on success and for -h, 2 for a
// command line that cannot be used, 1 when the fetch fails (after printing why).
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "httpdns-dial:", err)
	return 1
}

const usage = `Usage: httpdns-dial -server URL [-server URL...] [-api httpdns|alibaba_v1] [-account ID]
                    [-secret S] [-query 4|6|4,6] [-cacert FILE] [-no-localdns] [-cache-file FILE]
                    [-quiet] [-timeout 15s] URL

Fetches URL through the httpdns Go client (package client) and prints the response's status, the
address that served it and where that address came from (cache, stale, server, localdns), the
dial's attempts and timings, then the body unless -quiet. The URL keeps its host name, so TLS
sends and verifies the name while the connection goes to the address httpdns chose.

Flags:
`

// servers is a repeatable -server flag.
type servers []string

func (s *servers) String() string     { return strings.Join(*s, ",") }
func (s *servers) Set(v string) error { *s = append(*s, v); return nil }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("httpdns-dial", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var srv servers
	fs.Var(&srv, "server", "httpdns server base URL (repeat for failover, tried in order)")
	apiName := fs.String("api", string(client.APIHTTPDNS), "API: httpdns (/d, /resolve) or alibaba_v1")
	account := fs.String("account", "", "Alibaba v1 account id")
	secret := fs.String("secret", "", "Alibaba v1 signing secret (signed requests)")
	families := fs.String("query", "4,6", "address families: 4, 6 or 4,6")
	cacert := fs.String("cacert", "", "PEM file of CA certificates to trust besides the system's")
	noLocal := fs.Bool("no-localdns", false, "never fall back to the system resolver")
	cacheFile := fs.String("cache-file", "", "load and save the client's cache in this file")
	quiet := fs.Bool("quiet", false, "do not print the body")
	timeout := fs.Duration("timeout", 15*time.Second, "deadline of the whole fetch")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err) // the flag package printed the problem and the usage
	}
	if fs.NArg() != 1 || len(srv) == 0 {
		fmt.Fprintln(stderr, "httpdns-dial: want at least one -server and one URL")
		fs.Usage()
		return errUsage
	}
	cfg := client.Config{Servers: srv, API: client.API(*apiName), AccountID: *account, Secret: *secret,
		Families: *families, DisableLocalDNS: *noLocal, CacheFile: *cacheFile}
	if *cacert != "" {
		pool, err := loadPool(*cacert)
		if err != nil {
			return err
		}
		cfg.TLSConfig = &tls.Config{RootCAs: pool}
	}
	var dial client.DialEvent
	cfg.Hooks.Dial = func(ev client.DialEvent) { dial = ev }
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return fetch(ctx, c, fs.Arg(0), *timeout, *quiet, &dial, stdout)
}

// fetch GETs url through c's transport and reports who served it.
func fetch(ctx context.Context, c *client.Client, url string, timeout time.Duration, quiet bool,
	dial *client.DialEvent, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var remote string
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		remote, reused = ci.Conn.RemoteAddr().String(), ci.Reused
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := (&http.Client{Transport: c.Transport()}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	src := dial.Source
	if dial.Host == "" { // the URL's host was an address: the client's dial resolved nothing
		src = client.SourceLiteral
	}
	fmt.Fprintf(stdout, "%s %s\n", resp.Proto, resp.Status)
	fmt.Fprintf(stdout, "served by %s (%s, connection reused: %v)\n", remote, src, reused)
	if dial.Host != "" {
		fmt.Fprintf(stdout, "dial: %d attempt(s), %v; request %v\n", dial.Attempts,
			dial.Took.Round(time.Microsecond), time.Since(start).Round(time.Microsecond))
	}
	if ip, ok := c.ClientIP(); ok {
		fmt.Fprintf(stdout, "httpdns says this client is %s\n", ip)
	}
	if quiet {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	_, err = io.Copy(stdout, resp.Body)
	return err
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("reading %s: no PEM certificate", path)
	}
	return pool, nil
}
