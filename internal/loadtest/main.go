// Command loadtest measures httpdns's cache-hit /d under load against a bare net/http handler, in
// the same run on the same machine, because absolute numbers on a shared 2-core machine say little
// and ratios say more. Run it from inside the module (needs wrk: apt-get install wrk):
//
//	go run ./internal/loadtest
//	go run ./internal/loadtest -duration 10s -connections 64 -threads 2 -rounds 3 \
//	    -rate-share 0.5 -latency-duration 10s -latency-warmup 1s -latency-rounds 3 -latency-connections 64
//
// It builds and starts `httpdns demo` on loopback and warms one subnet-tier answer, and starts this
// program again as a second child process serving a fixed answer of the same bytes from a bare
// net/http handler. Then, in two phases, each made of rounds that run both targets one after the
// other (bare first in odd rounds, httpdns first in even ones):
//
//  1. Throughput: closed-loop wrk runs. It prints each round's requests/s, the ratio
//     httpdns/bare (the bar is at least 0.5) and each server's CPU time per request.
//  2. Latency at a fixed rate: R = -rate-share × httpdns's median wrk requests/s (or -rate). An
//     open-loop generator in this process sends R requests/s on a fixed schedule over
//     -latency-connections keep-alive connections. It prints each run's p50/p90/p99/p99.9,
//     achieved rate, and the server's and its own CPU per request; each round's p99 ratio; and
//     the median of each figure over the rounds side by side, with their ratios. Both targets are
//     measured by the same generator in the same run, each in a process of its own. Latency
//     counts from each request's scheduled send time, not from when a connection became free, so
//     a stalled server is charged for every request that waited behind it (no coordinated
//     omission); wrk2, which does this with -R, is not packaged for Debian.
//
// Other processes on a shared machine stretch single runs' tails by tens of milliseconds now and
// then: read the medians and ratios, never one run's p99 alone; CPU per request is the steadiest
// figure. On 2 cores the generator needs about as much CPU per request as the server, so at half
// of wrk's maximum the two together come near to the machine's capacity. The default run takes
// a little over two minutes.
//
// With -doors it measures instead each door's cache hit against /d's on one server, and dnsperf's
// RFC 8484 against wrk's /d over TLS (doors.go):
//
//	go run ./internal/loadtest -doors -duration 5s -rounds 3
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/httpdns/httpdns/internal/loadtest/demoproc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintf(os.Stderr, "loadtest: %v\n", err)
		os.Exit(1)
	}
}

// options are the command-line settings.
type options struct {
	// wrk throughput phase
	duration    time.Duration
	connections int
	threads     int
	rounds      int
	// open-loop latency phase
	rateShare          float64
	rate               float64
	latencyDuration    time.Duration
	latencyWarmup      time.Duration
	latencyRounds      int
	latencyConnections int
	// doors mode (doors.go)
	doors bool
}

// parseOptions reads args into options and checks them.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each wrk run")
	fs.IntVar(&o.connections, "connections", 64, "wrk connections")
	fs.IntVar(&o.threads, "threads", 2, "wrk threads")
	fs.IntVar(&o.rounds, "rounds", 3, "bare/httpdns wrk pairs to run")
	fs.Float64Var(&o.rateShare, "rate-share", 0.5, "fixed latency rate as a `share` of httpdns's measured max req/s")
	fs.Float64Var(&o.rate, "rate", 0, "fixed latency `rate` in req/s, overriding -rate-share (0: derive)")
	fs.DurationVar(&o.latencyDuration, "latency-duration", 10*time.Second, "measured length of each open-loop run")
	fs.DurationVar(&o.latencyWarmup, "latency-warmup", time.Second, "unmeasured lead-in of each open-loop run, at the same rate")
	fs.IntVar(&o.latencyRounds, "latency-rounds", 3, "bare/httpdns open-loop pairs to run (0 skips the phase)")
	fs.IntVar(&o.latencyConnections, "latency-connections", 64, "open-loop keep-alive connections")
	fs.BoolVar(&o.doors, "doors", false, "measure each door's cache hit against /d instead, and dnsperf -m doh against wrk on /d over TLS (doors.go)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if o.duration <= 0 || o.connections < 1 || o.threads < 1 || o.rounds < 1 {
		errs = append(errs, errors.New("-duration, -connections, -threads and -rounds must be positive"))
	}
	if o.rateShare <= 0 || o.rate < 0 {
		errs = append(errs, errors.New("-rate-share must be positive and -rate not negative"))
	}
	if o.latencyDuration <= 0 || o.latencyWarmup < 0 || o.latencyRounds < 0 || o.latencyConnections < 1 {
		errs = append(errs, errors.New("-latency-duration and -latency-connections must be positive, -latency-warmup and -latency-rounds not negative"))
	}
	return o, errors.Join(errs...)
}

// run starts both targets, then measures throughput and, at a fixed share of it, latency.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == bareCommand {
		return serveBare(ctx, stdout)
	}
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found: apt-get install wrk")
	}
	if o.doors {
		return runDoors(ctx, o, stdout)
	}
	bare, err := startBare()
	if err != nil {
		return err
	}
	defer bare.Close()
	demo, err := demoproc.Start(ctx)
	if err != nil {
		return err
	}
	defer demo.Close()
	targets := []target{{name: "bare", url: bare.URL, pid: bare.PID()}, {name: "httpdns", url: demo.URL, pid: demo.PID()}}
	fmt.Fprintf(stdout, "targets: bare %s (pid %d), httpdns %s (httpdns demo, pid %d)\n\n", bare.URL, bare.PID(), demo.URL, demo.PID())
	maxRate, err := throughputRounds(ctx, o, targets, stdout)
	if err != nil || o.latencyRounds == 0 {
		return err
	}
	rate := o.rate
	if rate == 0 {
		rate = o.rateShare * maxRate
	}
	return latencyRounds(ctx, o, rate, targets, stdout)
}

// target is one server under test.
type target struct {
	name string
	url  string
	// pid is the server's process, whose CPU time is measured over each run.
	pid int
	// header is one request header wrk sends ("Name: value"), "" for none.
	header string
}

// runOrder returns the order in which round (from 1) runs the targets: as listed in odd rounds,
// reversed in even ones, so that neither target always runs right after the other.
func runOrder(round, targets int) []int {
	order := make([]int, targets)
	for i := range order {
		order[i] = i
		if round%2 == 0 {
			order[i] = targets - 1 - i
		}
	}
	return order
}

// median returns the middle of xs (the mean of the two middle values for an even count); xs is
// not changed.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
