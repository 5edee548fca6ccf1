package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// throughputRounds alternates wrk runs against the targets (in runOrder), prints each round's
// requests/s, the ratio httpdns/bare and each server's CPU per request, and returns the median
// requests/s of the last target (httpdns).
func throughputRounds(ctx context.Context, o options, targets []target, stdout io.Writer) (float64, error) {
	fmt.Fprintf(stdout, "throughput: wrk, closed loop, %d connections, %d threads, %v per run\n", o.connections, o.threads, o.duration)
	var ratios, last []float64
	for i := range o.rounds {
		res := make([]wrkResult, len(targets))
		for _, j := range runOrder(i+1, len(targets)) {
			t := targets[j]
			r, err := wrkRun(ctx, o, t)
			if err != nil {
				return 0, fmt.Errorf("running wrk against %s: %w", t.name, err)
			}
			if r.socketErrs != "" {
				fmt.Fprintf(stdout, "  wrk against %s: %s\n", t.name, r.socketErrs)
			}
			res[j] = r
		}
		b, h := res[0], res[len(res)-1]
		ratios = append(ratios, h.rps/b.rps)
		last = append(last, h.rps)
		fmt.Fprintf(stdout, "round %d: bare %.0f req/s, httpdns /d (cache hit) %.0f req/s, ratio %.2f; server CPU/req bare %s, httpdns %s\n",
			i+1, b.rps, h.rps, h.rps/b.rps, us(b.cpu), us(h.cpu))
	}
	fmt.Fprintf(stdout, "median ratio httpdns/bare: %.2f; httpdns median %.0f req/s\n\n", median(ratios), median(last))
	return median(last), nil
}

// wrkResult is one wrk run.
type wrkResult struct {
	rps      float64
	requests int
	// socketErrs is wrk's socket errors line, "" when it printed none.
	socketErrs string
	// cpu is the server's CPU time per request over the run.
	cpu time.Duration
	// clientCPU is wrk's own CPU time per request.
	clientCPU time.Duration
}

// wrkRun runs one closed-loop wrk load against t and measures t's CPU over it.
func wrkRun(ctx context.Context, o options, t target) (wrkResult, error) {
	meter, err := startCPU(t.pid)
	if err != nil {
		return wrkResult{}, err
	}
	args := []string{"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections), "-d", o.duration.String()}
	if t.header != "" {
		args = append(args, "-H", t.header)
	}
	cmd := exec.CommandContext(ctx, "wrk", append(args, t.url)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("%w\n%s", err, out)
	}
	r, err := parseWrk(out)
	if err != nil {
		return r, err
	}
	r.clientCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()) / time.Duration(r.requests)
	r.cpu, err = meter.perRequest(r.requests)
	return r, err
}

var (
	wrkReqsPerSec = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	wrkRequests   = regexp.MustCompile(`(?m)^\s*([0-9]+) requests in `)
	wrkSocketErrs = regexp.MustCompile(`(?m)^\s*(Socket errors:.*?)\s*$`)
	wrkNon2xx     = []byte("Non-2xx or 3xx responses")
)

// errWrkOutput is returned when wrk's output does not show a clean run.
var errWrkOutput = errors.New("unusable wrk output")

// parseWrk reads the requests, requests/s and socket errors line wrk printed (a few timeouts on
// a busy machine are worth showing, not worth discarding the run). It is an error when wrk
// printed no counts or saw answers other than 2xx: then it did not measure cache hits.
func parseWrk(out []byte) (wrkResult, error) {
	if bytes.Contains(out, wrkNon2xx) {
		return wrkResult{}, fmt.Errorf("%w: non-2xx answers:\n%s", errWrkOutput, out)
	}
	m, n := wrkReqsPerSec.FindSubmatch(out), wrkRequests.FindSubmatch(out)
	if m == nil || n == nil {
		return wrkResult{}, fmt.Errorf("%w: no request counts:\n%s", errWrkOutput, out)
	}
	rps, err1 := strconv.ParseFloat(string(m[1]), 64)
	requests, err2 := strconv.Atoi(string(n[1]))
	if err1 != nil || err2 != nil || rps <= 0 || requests <= 0 {
		return wrkResult{}, fmt.Errorf("%w: %q requests at %q/s", errWrkOutput, n[1], m[1])
	}
	r := wrkResult{rps: rps, requests: requests}
	if m := wrkSocketErrs.FindSubmatch(out); m != nil {
		r.socketErrs = string(m[1])
	}
	return r, nil
}

// us formats d in microseconds.
func us(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}
