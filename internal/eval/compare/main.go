// Command compare runs the cache evaluation on the simulated CDN world and prints the table in the
// README: it learns a CIDRDB by probing the world, then sends one workload through a city+ISP
// cache, a fixed /24 cache and the learnt CIDRDB, judging every answer against the world's truth.
//
//	go run ./internal/eval/compare [-requests 500000] [-span 30m] [-seed 1] [-breakdown]
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
	minAsks := flag.Int("active-min-asks", 0, "the resolver's refresh.active_min_asks (0: its default)")
	breakdown := flag.Bool("breakdown", false, "also print where each design's upstream queries went")
	only := flag.String("only", "", "comma-separated design names to run (default: all)")
	flag.Parse()
	world, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
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
	learnt, rep, err := env.Learn(ctx)
	if err != nil {
		return fmt.Errorf("learning the CIDRDB: %w", err)
	}
	fmt.Printf("learnt CIDRDB: %d blocks from %d /24s\n\n", rep.BlocksAfter, rep.BlocksBefore)
	designs := eval.RefreshDesigns(learnt, env)
	for i := range designs {
		designs[i].ActiveMinAsks = *minAsks
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
	fmt.Printf("workload: %d requests over %v, seed %d\n\n%s", w.Requests, w.Span, w.Seed, eval.Table(results))
	if *breakdown {
		fmt.Printf("\nupstream queries per 1000 requests by cause:\n\n%s", eval.Breakdown(results))
	}
	return nil
}
