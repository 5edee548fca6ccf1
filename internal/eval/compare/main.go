// Command compare runs the cache evaluation on the simulated CDN world and prints the table in the
// README: it learns a CIDRDB by probing the world (cdnsim.EvalConfig; the IPv6 /56s the workload's
// previous day asked from are the demand), then sends one workload through a city+ISP
// cache, a fixed /24 cache and the learnt CIDRDB, judging every answer against the world's truth.
//
//	go run ./internal/eval/compare [-requests 500000] [-span 30m] [-seed 1] [-ipv6-share 0.1] [-breakdown] [-checks N]
//
// With -checks N every design also runs the resolver's accuracy checks on 1 answer in N, and a last
// table sets, per tier, the mismatch rate they measured beside the true misroute rate.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/internal/eval"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var w eval.Workload
	flag.IntVar(&w.Requests, "requests", 500_000, "requests in the workload")
	flag.DurationVar(&w.Span, "span", 30*time.Minute, "simulated time the requests spread over")
	flag.Uint64Var(&w.Seed, "seed", 1, "workload seed")
	flag.Float64Var(&w.HotShare, "hot-share", 0.1, "share of requests from the 16 hot /24s")
	flag.Float64Var(&w.SubnetSigma, "subnet-sigma", 1, "log-normal sigma of the other requests' shares over all /24s; negative: -subnet-zipf instead")
	flag.Float64Var(&w.SubnetZipf, "subnet-zipf", 1.05, "with a negative -subnet-sigma: Zipf exponent (> 1) of the other requests over all /24s")
	flag.Float64Var(&w.DomainZipf, "domain-zipf", 1.2, "Zipf exponent (> 1) of names' popularity")
	flag.Float64Var(&w.IPv6Share, "ipv6-share", 0.1, "share of all requests from IPv6 clients (on top of -requests IPv4 ones); negative: none")
	maxQueries := flag.Int("max-queries", 0, "the probe's query budget (0: none)")
	minAsks := flag.Int("active-min-asks", 0, "the resolver's refresh.active_min_asks (0: its default)")
	breakdown := flag.Bool("breakdown", false, "also print where each design's upstream queries went")
	only := flag.String("only", "", "comma-separated design names to run (default: all)")
	checks := flag.Int("checks", 0, "accuracy checks on 1 answer in N, measured against the true misroutes per tier (0: none)")
	flag.Parse()
	world, err := cdnsim.NewWorld(cdnsim.EvalConfig())
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "httpdns-eval-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env, err := eval.NewEnv(world, 3, dir)
	if err != nil {
		return err
	}
	defer env.Close()
	ctx := context.Background()
	learnt, rep, err := env.Learn(ctx, eval.LearnOptions{Demand: w.Demand(world, env.Names()), MaxQueries: *maxQueries})
	if err != nil {
		return fmt.Errorf("learning the CIDRDB: %w", err)
	}
	p := rep.Probe
	fmt.Printf("learnt CIDRDB: IPv4 %d blocks from %d /24s, IPv6 %d blocks from %d networks (%d /56s probed or asked)\n",
		rep.IPv4.BlocksAfter, rep.IPv4.BlocksBefore, rep.IPv6.BlocksAfter, rep.IPv6.BlocksBefore, rep.IPv6.Subnets)
	fmt.Printf("probe: %d queries (IPv4 %d, IPv6 %d) in %v\n\n", p.Queries, p.IPv4.Queries, p.IPv6.Queries, p.Elapsed.Round(time.Millisecond))
	designs := eval.RefreshDesigns(learnt, env)
	for i := range designs {
		designs[i].ActiveMinAsks = *minAsks
		designs[i].Checks = *checks
	}
	if *only != "" {
		keep := strings.Split(*only, ",")
		designs = slices.DeleteFunc(designs, func(c eval.Cache) bool { return !slices.Contains(keep, c.Name) })
		if len(designs) == 0 {
			return fmt.Errorf("-only %q names no design", *only)
		}
	}
	results, err := eval.Compare(ctx, env, designs, w)
	if err != nil {
		return err
	}
	r0 := results[0]
	fmt.Printf("workload: %d IPv4 requests and %d IPv6 (%.0f%% of all) over %v, seed %d\n\n%s\n%s",
		r0.V4.Requests, r0.V6.Requests, 100*float64(r0.V6.Requests)/float64(r0.Requests), w.Span, w.Seed,
		eval.Table(results), eval.FamilyTable(results))
	if *breakdown {
		fmt.Printf("\nupstream queries per 1000 requests by cause:\n\n%s", eval.Breakdown(results))
	}
	if *checks > 0 {
		fmt.Printf("\naccuracy checks (1 answer in %d; skipped: %v):\n\n%s", *checks, results[0].ChecksSkipped, eval.AccuracyTable(results))
	}
	return nil
}
