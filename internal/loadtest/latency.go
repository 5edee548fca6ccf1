package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// requestTimeout is how long after it was due a generator request may complete before it counts
// as failed.
const requestTimeout = 2 * time.Second

// quantiles are the latency percentiles reported, as fractions.
var quantiles = []float64{0.50, 0.90, 0.99, 0.999}

// summary is the measured part of one open-loop run.
type summary struct {
	// achieved is successful answers per second over the measured part.
	achieved float64
	ok       int
	failed   int
	// q holds the latency at each of quantiles, from due time, over successful requests; max is
	// the slowest.
	q   []time.Duration
	max time.Duration
	// lag99 is the 99th percentile of due-to-sent: the generator's own lateness plus waiting for
	// a free connection.
	lag99 time.Duration
	// cpu and genCPU are the server's and the generator's CPU time per request over the whole
	// run, warm-up included: on a 2-core machine the two share the cores, and a server that needs
	// more CPU per request gets nearer to saturation at the same rate.
	cpu, genCPU time.Duration
}

// summarize reduces the records of l's run to the measured part's figures.
func summarize(recs []record, l openLoop) summary {
	var s summary
	var lat, lag []time.Duration
	var first, last time.Duration = -1, 0
	for i, r := range recs {
		due := l.due(i)
		if due < l.warmup {
			continue
		}
		if first < 0 {
			first = due
		}
		last = max(last, time.Duration(r.done))
		if r.sent >= 0 {
			lag = append(lag, time.Duration(r.sent)-due)
		}
		if !r.ok {
			s.failed++
			continue
		}
		s.ok++
		lat = append(lat, time.Duration(r.done)-due)
	}
	if window := last - first; window > 0 {
		s.achieved = float64(s.ok) / window.Seconds()
	}
	slices.Sort(lat)
	slices.Sort(lag)
	for _, q := range quantiles {
		s.q = append(s.q, percentile(lat, q))
	}
	s.lag99 = percentile(lag, 0.99)
	if len(lat) > 0 {
		s.max = lat[len(lat)-1]
	}
	return s
}

// percentile returns the nearest-rank q-quantile of sorted (0 when empty).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// latencyRounds runs the open-loop load at rate against each target in turn (in runOrder), for
// o.latencyRounds rounds, and prints every run, each round's p99 ratio of the last target (httpdns) to the first
// (bare), and the median of each percentile over the rounds side by side.
func latencyRounds(ctx context.Context, o options, rate float64, targets []target, stdout io.Writer) error {
	fmt.Fprintf(stdout, "latency: open loop at %.0f req/s%s, %d keep-alive connections, %v measured after %v warm-up per run;\n",
		rate, shareNote(o), o.latencyConnections, o.latencyDuration, o.latencyWarmup)
	fmt.Fprintf(stdout, "latency counts from each request's due time; one generator in this process measures both targets\n")
	fmt.Fprintf(stdout, rowFormat, "round", "target", "achieved/s", "ok", "failed", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms",
		"send lag p99 ms", "server CPU/req", "generator CPU/req")
	all := make([][]summary, len(targets))
	for round := 1; round <= o.latencyRounds; round++ {
		for _, j := range runOrder(round, len(targets)) {
			t := targets[j]
			s, err := latencyRun(ctx, o, rate, t)
			if err != nil {
				return fmt.Errorf("open-loop load against %s: %w", t.name, err)
			}
			all[j] = append(all[j], s)
			fmt.Fprintf(stdout, rowFormat, fmt.Sprint(round), t.name, fmt.Sprintf("%.0f", s.achieved), fmt.Sprint(s.ok), fmt.Sprint(s.failed),
				ms(s.q[0]), ms(s.q[1]), ms(s.q[2]), ms(s.q[3]), ms(s.max), ms(s.lag99), us(s.cpu), us(s.genCPU))
		}
	}
	printLatencySummary(stdout, targets, all)
	return nil
}

// latencyRun runs the open-loop load at rate against t once and summarizes it, with t's CPU.
func latencyRun(ctx context.Context, o options, rate float64, t target) (summary, error) {
	l := openLoop{url: t.url, rate: rate, warmup: o.latencyWarmup, duration: o.latencyDuration,
		connections: o.latencyConnections, timeout: requestTimeout}
	server, err := startCPU(t.pid)
	if err != nil {
		return summary{}, err
	}
	generator, err := startCPU(os.Getpid())
	if err != nil {
		return summary{}, err
	}
	recs, err := l.run(ctx)
	if err != nil {
		return summary{}, err
	}
	s := summarize(recs, l)
	var err1, err2 error
	s.cpu, err1 = server.perRequest(len(recs))
	s.genCPU, err2 = generator.perRequest(len(recs))
	return s, errors.Join(err1, err2)
}

// rowFormat lays out one open-loop run; rows are printed as the runs finish.
const rowFormat = "%5s  %-8s %10s %8s %6s %8s %8s %8s %9s %8s %15s %14s %17s\n"

// shareNote says where the rate came from.
func shareNote(o options) string {
	if o.rate > 0 {
		return " (-rate)"
	}
	return fmt.Sprintf(" (%.2f × httpdns's median wrk rate)", o.rateShare)
}

// printLatencySummary prints the per-round p99 ratios and the median percentiles of each target
// over the rounds, with the ratio of the last target to the first.
func printLatencySummary(stdout io.Writer, targets []target, all [][]summary) {
	first, last := all[0], all[len(all)-1]
	var ratios []string
	for i := range first {
		ratios = append(ratios, fmt.Sprintf("%.2f", ratio(last[i].q[2], first[i].q[2])))
	}
	fmt.Fprintf(stdout, "p99 ratio httpdns/bare by round: %s\n\n", strings.Join(ratios, ", "))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "median over %d round(s)\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tachieved/s\tCPU µs/req\t\n", len(first))
	med := make([][]float64, len(all))
	for j, runs := range all {
		med[j] = medianFigures(runs)
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.0f\t%.1f\t\n", targets[j].name, med[j][0], med[j][1], med[j][2], med[j][3], med[j][4], med[j][5])
	}
	a, b := med[len(med)-1], med[0]
	fmt.Fprintf(tw, "httpdns/bare\t")
	for k := range a {
		fmt.Fprintf(tw, "%.2f\t", a[k]/b[k])
	}
	fmt.Fprintln(tw)
	tw.Flush()
}

// medianFigures returns, over runs, the median of each quantile in milliseconds, then the median
// achieved rate, then the median server CPU per request in microseconds.
func medianFigures(runs []summary) []float64 {
	figures := make([]func(summary) float64, 0, len(quantiles)+2)
	for k := range quantiles {
		figures = append(figures, func(s summary) float64 { return float64(s.q[k]) / float64(time.Millisecond) })
	}
	figures = append(figures,
		func(s summary) float64 { return s.achieved },
		func(s summary) float64 { return float64(s.cpu) / float64(time.Microsecond) })
	out := make([]float64, len(figures))
	for f, fig := range figures {
		xs := make([]float64, len(runs))
		for i, s := range runs {
			xs[i] = fig(s)
		}
		out[f] = median(xs)
	}
	return out
}

// ratio returns a/b, or 0 when b is 0.
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// ms formats d in milliseconds with microsecond precision.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
}
