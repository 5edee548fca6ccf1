package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/miekg/dns"
)

// startRun runs the command with args on a free port and returns the address it prints, the
// channel run's error arrives on, and the function that stops it.
func startRun(t *testing.T, args ...string) (addr string, done <-chan error, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
		errc <- err
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // later lines are not needed
			}
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		m := regexp.MustCompile(`serving zone test\. on (\S+) `).FindStringSubmatch(line)
		if !ok || m == nil {
			cancel()
			t.Fatalf("first line %q, want the address served (run: %v)", line, <-errc)
		}
		addr = m[1]
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("cdnsim printed nothing within 30s")
	}
	return addr, errc, cancel
}

func TestRunServesAndWritesFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "world")
	addr, done, stop := startRun(t, "-dir", dir, "-clients", "4")

	world, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{cdnsim.CityDBName, cdnsim.ISPDBName, whitelistName} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v, want a non-empty file", name, err)
		}
	}
	wl, _ := os.ReadFile(filepath.Join(dir, whitelistName))
	for _, want := range []string{"*.cdn-a.test subnet\n", "*.cdn-e.test subnet\n", "*.portal.test global\n"} {
		if !strings.Contains(string(wl), want) {
			t.Errorf("whitelist lacks %q:\n%s", want, wl)
		}
	}
	clients := readClients(t, filepath.Join(dir, clientsName))
	if len(clients) != 4 {
		t.Fatalf("clients.txt has %d clients, want 4", len(clients))
	}

	// Each sample client, asked with its /24 as ECS over UDP and TCP, gets the world's answer.
	for _, network := range []string{"udp", "tcp"} {
		for _, c := range clients {
			src := netip.PrefixFrom(c, 24).Masked()
			m := new(dns.Msg).SetQuestion("img.cdn-a.test.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET,
				Family: 1, SourceNetmask: 24, Address: src.Addr().AsSlice()})
			r, _, err := (&dns.Client{Net: network, Timeout: 5 * time.Second}).Exchange(m, addr)
			if err != nil {
				t.Fatalf("%s query for %s: %v", network, src, err)
			}
			want, _, _, _ := world.Answer("img.cdn-a.test", dns.TypeA, src)
			if got := answerAddrs(r); !slices.Equal(got, want) {
				t.Errorf("%s answer for %s = %v, want %v", network, src, got, want)
			}
		}
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after SIGINT-like cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("run did not return within 10s of cancel")
	}
}

func TestRunSeedChangesWorld(t *testing.T) {
	t.Parallel()
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, tc := range []struct{ dir, seed string }{{a, "1"}, {b, "2"}} {
		_, done, stop := startRun(t, "-dir", tc.dir, "-seed", tc.seed, "-clients", "8")
		stop()
		if err := <-done; err != nil {
			t.Fatalf("seed %s: %v", tc.seed, err)
		}
	}
	if slices.Equal(readClients(t, filepath.Join(a, clientsName)), readClients(t, filepath.Join(b, clientsName))) {
		t.Error("seeds 1 and 2 gave the same sample clients, want different worlds")
	}
}

func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"help", []string{"-h"}, flag.ErrHelp},
		{"unknown flag", []string{"-nope"}, errUsage},
		{"argument", []string{"extra"}, errUsage},
		{"too few clients", []string{"-clients", "0"}, errUsage},
		{"too many clients", []string{"-clients", "65"}, errUsage},
		{"bad seed", []string{"-seed", "x"}, errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			err := run(t.Context(), tt.args, io.Discard, &stderr)
			if !errors.Is(err, tt.want) {
				t.Errorf("run(%q) = %v, want %v", tt.args, err, tt.want)
			}
			if !strings.Contains(stderr.String(), "Usage: cdnsim") {
				t.Errorf("run(%q) printed %q, want the usage", tt.args, stderr.String())
			}
		})
	}
}

func TestRunListenError(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), []string{"-listen", "not-an-address"}, io.Discard, io.Discard)
	if err == nil || errors.Is(err, errUsage) {
		t.Errorf("run with a bad -listen = %v, want a serving error", err)
	}
}

// readClients parses clients.txt and checks that every line names its address's /24.
func readClients(t *testing.T, path string) []netip.Addr {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("clients line %q: want 4 fields", line)
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			t.Fatalf("clients line %q: %v", line, err)
		}
		if p, err := netip.ParsePrefix(f[1]); err != nil || p != netip.PrefixFrom(a, 24).Masked() {
			t.Errorf("clients line %q: /24 %q does not hold the address", line, f[1])
		}
		out = append(out, a)
	}
	return out
}

// answerAddrs returns the A and AAAA addresses of r's answer section, sorted.
func answerAddrs(r *dns.Msg) []netip.Addr {
	var out []netip.Addr
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			a, _ := netip.AddrFromSlice(rr.A.To4())
			out = append(out, a)
		case *dns.AAAA:
			a, _ := netip.AddrFromSlice(rr.AAAA)
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}
