package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for this program when run needs a bare handler child:
// startBare runs the current executable with bareCommand.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == bareCommand {
		if err := serveBare(context.Background(), os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestLatencyRounds runs the latency phase against two in-process servers and checks the table.
func TestLatencyRounds(t *testing.T) {
	t.Parallel()
	var targets []target
	for _, name := range []string{"bare", "httpdns"} {
		srv := httptest.NewServer(bareHandler())
		t.Cleanup(srv.Close)
		targets = append(targets, target{name: name, url: srv.URL + "/d", pid: os.Getpid()})
	}
	o, err := parseOptions([]string{"-latency-duration", "300ms", "-latency-warmup", "100ms", "-latency-rounds", "2",
		"-latency-connections", "4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := latencyRounds(context.Background(), o, 500, targets, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	rows := regexp.MustCompile(`(?m)^\s+[12]  (bare|httpdns)\s+\d+\s+150\s+0\s`).FindAllString(got, -1)
	if len(rows) != 4 {
		t.Errorf("want 4 runs of 150 measured requests without failures:\n%s", got)
	}
	for _, want := range []string{"open loop at 500 req/s", "p99 ratio httpdns/bare by round: ", "median over 2 round(s)", "httpdns/bare"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestRun runs the whole program briefly: it builds and starts httpdns demo and a bare handler
// child, and needs wrk.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs httpdns")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk not installed")
	}
	t.Parallel()
	var out bytes.Buffer
	args := []string{"-duration", "1s", "-rounds", "1", "-connections", "8", "-threads", "1",
		"-latency-duration", "500ms", "-latency-warmup", "100ms", "-latency-rounds", "1", "-latency-connections", "8"}
	if err := run(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"round 1: bare ", "median ratio httpdns/bare: ", "latency: open loop at ", "p99 ratio httpdns/bare by round: "} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if rows := regexp.MustCompile(`(?m)^\s+1  (bare|httpdns)\s+\d+\s+\d+\s+0\s`).FindAllString(got, -1); len(rows) != 2 {
		t.Errorf("want an open-loop run without failures against each target:\n%s", got)
	}
}
