package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"testing"
	"time"
)

// Debian's DoH clients against the TLS listener: curl --doh-url, kdig +https and dig +https, each
// speaking RFC 8484 over HTTP/2. Each is skipped, saying so, where its package is not installed.

// dohTool returns the path of a client program, or skips the test naming the package to install.
func dohTool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (apt-get install %s): skipping its interop test", name, pkg)
	}
	return path
}

// runTool runs a client program with a deadline and returns its combined output.
func runTool(t *testing.T, path string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, args...).CombinedOutput() // judged by its output
	return string(out)
}

// addrsIn returns every IPv4 address that re finds (as its first group) in out, sorted.
func addrsIn(re *regexp.Regexp, out string) []string {
	var got []string
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		if a, err := netip.ParseAddr(m[1]); err == nil && a.Is4() {
			got = append(got, a.String())
		}
	}
	slices.Sort(got)
	return got
}

func TestTLSInteropDebianClients(t *testing.T) {
	t.Parallel()
	s := startTLSService(t, "")
	u, err := url.Parse(s.tls)
	if err != nil {
		t.Fatal(err)
	}
	host, port := u.Hostname(), u.Port()
	// The answer for this client (127.0.0.1, the same cache key whatever the door), by /d over TLS.
	_, body := h2Get(t, s.cert.Pool, s.tls+"/d?host=img.cdn-a.test")
	var d struct{ IPs []string }
	if err := json.Unmarshal(body, &d); err != nil || len(d.IPs) == 0 {
		t.Fatalf("/d: %s (%v)", body, err)
	}
	want := slices.Sorted(slices.Values(d.IPs))

	t.Run("curl --doh-url", func(t *testing.T) {
		t.Parallel()
		curl := dohTool(t, "curl", "curl")
		// curl resolves the name by DoH, then fails to connect to the simulated edge: only its
		// verbose "DoH A:" lines matter.
		out := runTool(t, curl, "-sv", "--connect-timeout", "1", "--max-time", "10", "--cacert", s.cert.CertFile,
			"--doh-url", s.tls+"/dns-query", "http://img.cdn-a.test:9/")
		if got := addrsIn(regexp.MustCompile(`DoH A: (\S+)`), out); !slices.Equal(got, want) {
			t.Errorf("curl's DoH A records %v, want %v; output:\n%s", got, want, out)
		}
	})
	t.Run("kdig +https", func(t *testing.T) {
		t.Parallel()
		kdig := dohTool(t, "kdig", "knot-dnsutils")
		out := runTool(t, kdig, "@"+host, "-p", port, "+https=/dns-query", "+tls-ca="+s.cert.CertFile,
			"img.cdn-a.test", "A")
		if got := addrsIn(regexp.MustCompile(`(?m)^img\.cdn-a\.test\.\s+\d+\s+IN\s+A\s+(\S+)`), out); !slices.Equal(got, want) {
			t.Errorf("kdig's A records %v, want %v; output:\n%s", got, want, out)
		}
	})
	t.Run("dig +https", func(t *testing.T) {
		t.Parallel()
		dig := dohTool(t, "dig", "bind9-dnsutils")
		out := runTool(t, dig, "+https=/dns-query", "@"+host, "-p", port, "+tries=1", "+time=5", "img.cdn-a.test", "A")
		if got := addrsIn(regexp.MustCompile(`(?m)^img\.cdn-a\.test\.\s+\d+\s+IN\s+A\s+(\S+)`), out); !slices.Equal(got, want) {
			t.Errorf("dig's A records %v, want %v; output:\n%s", got, want, out)
		}
	})
}
