// Command fleetbench runs the evaluation workload (package eval) over a fleet of resolver nodes, as the
// README's "Shared answer cache" table shows: one node alone as the reference, then three nodes behind a
// round-robin and behind a consistent-hash balancer (client /24 or /56 + host), each without and with the
// shared answer cache on a real redis-server. It reports each setup's hit ratio, the share answered from
// the shared cache, and upstream queries per 1000 requests against the one node's.
//
//	go run ./internal/eval/fleetbench [-design recommended] [-nodes 3] [-redis host:port] [-requests 500000] [-span 30m] [-seed 1]
//
// Without -redis it starts a redis-server of its own (Debian's redis-server must be installed) on a free
// loopback port, and flushes it before each setup that uses it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/internal/eval"
	"github.com/httpdns/httpdns/internal/redistest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "fleetbench: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var w eval.Workload
	flag.IntVar(&w.Requests, "requests", 500_000, "IPv4 requests in the workload")
	flag.DurationVar(&w.Span, "span", 30*time.Minute, "simulated time the requests spread over")
	flag.Uint64Var(&w.Seed, "seed", 1, "workload seed")
	flag.Float64Var(&w.IPv6Share, "ipv6-share", 0.1, "share of all requests from IPv6 clients; negative: none")
	design := flag.String("design", "recommended", "the cache design every node runs (a row of `go run ./internal/eval/compare`)")
	nodes := flag.Int("nodes", 3, "nodes in the fleet")
	redisAddr := flag.String("redis", "", "a Redis to use, host:port (default: start a redis-server on loopback); it is flushed")
	timeout := flag.Duration("l2-timeout", fleet.DefaultL2Timeout, "the L2's read timeout (fleet.l2_timeout)")
	flag.Parse()

	ctx := context.Background()
	world, err := cdnsim.NewWorld(cdnsim.EvalConfig())
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "httpdns-fleetbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *redisAddr == "" {
		srv, err := redistest.Launch(dir)
		if err != nil {
			return fmt.Errorf("starting a redis-server (or give -redis): %w", err)
		}
		defer srv.Stop()
		*redisAddr = srv.Addr
	}
	rdb := fleet.NewClient([]string{*redisAddr}, "")
	defer rdb.Close()
	env, err := eval.NewEnv(world, 3, dir)
	if err != nil {
		return err
	}
	defer env.Close()
	c, err := pickDesign(ctx, env, w, *design)
	if err != nil {
		return err
	}
	setups := []eval.FleetSetup{{Nodes: 1}}
	for _, b := range []eval.Balance{eval.RoundRobin, eval.ConsistentHash} {
		setups = append(setups, eval.FleetSetup{Nodes: *nodes, Balance: b}, eval.FleetSetup{Nodes: *nodes, Balance: b, L2: true})
	}
	var results []eval.FleetResult
	for _, s := range setups {
		started := time.Now()
		var l2s []*fleet.L2
		if s.L2 {
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				return fmt.Errorf("flushing redis at %s: %w", *redisAddr, err)
			}
		}
		r, err := eval.RunFleet(ctx, env, c, w, s, func() (eval.FleetL2, error) {
			l2, err := fleet.NewL2(rdb, fleet.L2Config{Timeout: *timeout})
			l2s = append(l2s, l2)
			return l2, err
		})
		var st fleet.L2Stats
		for _, l2 := range l2s {
			l2.Close()
			st = add(st, l2.Stats())
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name(), err)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "%s: %v", s.Name(), time.Since(started).Round(time.Second))
		if s.L2 {
			fmt.Fprintf(os.Stderr, "; L2 reads: %d hits, %d misses, %d errors, %d timeouts, %d skipped; writes: %d, %d dropped",
				st.Hits, st.Misses, st.Errors, st.Timeouts, st.Skipped, st.Written, st.Dropped)
		}
		fmt.Fprintln(os.Stderr)
	}
	fmt.Printf("design %q, %d requests over %v, seed %d; refreshes per 1k requests:", *design, results[0].Requests, w.Span, w.Seed)
	for _, r := range results {
		fmt.Printf(" %s:", r.Setup.Name())
		for _, k := range []string{"active", "passive", "prefetch"} {
			fmt.Printf(" %s %.1f", k, float64(r.Refreshes[k])*1000/float64(r.Requests))
		}
		fmt.Print(";")
	}
	fmt.Printf("\n\n%s", eval.FleetTable(results))
	return nil
}

// pickDesign returns the design named, learning the CIDRDB first when it needs one.
func pickDesign(ctx context.Context, env *eval.Env, w eval.Workload, name string) (eval.Cache, error) {
	var learnt string
	if name != "city+ISP" && name != "fixed /24" {
		var err error
		if learnt, _, err = env.Learn(ctx, eval.LearnOptions{Demand: w.Demand(env.World, env.Names())}); err != nil {
			return eval.Cache{}, fmt.Errorf("learning the CIDRDB: %w", err)
		}
	}
	var names []string
	for _, c := range eval.RefreshDesigns(learnt, env) {
		if c.Name == name {
			return c, nil
		}
		names = append(names, c.Name)
	}
	return eval.Cache{}, fmt.Errorf("-design %q: want one of %s", name, strings.Join(names, ", "))
}

func add(a, b fleet.L2Stats) fleet.L2Stats {
	a.Hits += b.Hits
	a.Misses += b.Misses
	a.Errors += b.Errors
	a.Timeouts += b.Timeouts
	a.Skipped += b.Skipped
	a.Written += b.Written
	a.Dropped += b.Dropped
	return a
}
