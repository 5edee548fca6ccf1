// Command memory measures what cached answers cost in memory. It builds a cache.Cache, fills it
// with typical subnet-tier entries (CDN names like img.cdn-a.test, each cached for all 16384 /22
// blocks of 20.0.0.0/8 before the next, so 62 names for a million; two IPv4 addresses each, TTL
// 300 s), and reports the entries stored, the Go heap and the process's RSS
// before and after, the heap bytes per entry beside the cache's own cost accounting
// (cache.Bytes), and the idle RSS of the service itself, from which it estimates the service's RSS
// with that many entries. Run it from the module root:
//
//	go run ./internal/loadtest/memory                     # -entries 1000000 -max-bytes 0 -baseline
//	go run ./internal/loadtest/memory -entries 100000 -baseline=false
//
// The cache is measured in this process, not inside a running service: filling a real service's
// cache with a million distinct answers would take a million upstream questions. The service's
// own share is measured separately (-baseline): `httpdns serve` of the demo's config, idle, as a
// child process (and `httpdns demo`, the service plus the simulated CDN, beside it). The estimate
// for the service holding the entries is that idle RSS plus what the entries added to this
// process's RSS once free memory is returned to the OS. Until the runtime returns it, and while a
// busy service allocates between collections, RSS can reach about twice the live heap (GOGC=100);
// the peak row shows how far the fill took it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/httpdns/httpdns/cache"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintf(os.Stderr, "memory: %v\n", err)
		os.Exit(1)
	}
}

// options are the command-line settings.
type options struct {
	entries  int
	maxBytes int64
	baseline bool
}

// parseOptions reads args into options and checks them.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.entries, "entries", 1_000_000, "`number` of entries to store")
	fs.Int64Var(&o.maxBytes, "max-bytes", 0, "cache budget in `bytes` (0: entries × 512 B rounded up to a power-of-two MiB, what an operator would give them)")
	fs.BoolVar(&o.baseline, "baseline", true, "also build httpdns and measure the idle service's RSS")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.entries < 1 || o.entries > maxEntries {
		return o, fmt.Errorf("-entries must be 1..%d", maxEntries)
	}
	if o.maxBytes < 0 {
		return o, errors.New("-max-bytes must not be negative")
	}
	if o.maxBytes == 0 {
		o.maxBytes = autoBudget(o.entries)
	}
	return o, nil
}

// autoBudget is entries × 512 B rounded up to a power-of-two number of MiB: room for the ~400 B
// an entry costs and the admission counters, so that admission never has to refuse one.
func autoBudget(entries int) int64 {
	need := int64(entries) * 512
	b := int64(1 << 20)
	for b < need {
		b <<= 1
	}
	return max(b, 16<<20)
}

// run fills a cache, reports what it costs, and measures the service's baseline.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	start, err := sample()
	if err != nil {
		return err
	}
	c, err := cache.New(cache.Config{MaxBytes: o.maxBytes})
	if err != nil {
		return fmt.Errorf("making the cache: %w", err)
	}
	defer c.Close()
	afterNew, err := sample()
	if err != nil {
		return err
	}
	began := time.Now()
	f := fill(ctx, c, o.entries, began)
	if err := ctx.Err(); err != nil {
		return err
	}
	filled := time.Since(began)
	afterFill, err := sample()
	if err != nil {
		return err
	}
	released, err := sampleReleased()
	if err != nil {
		return err
	}
	r := report{opts: o, fill: f, fillTime: filled, bytes: c.Bytes(),
		stages: []stage{{"start", start}, {"after cache.New", afterNew}, {"after fill and a GC", afterFill}, {"after FreeOSMemory", released}}}
	r.print(stdout)
	runtime.KeepAlive(c)
	if !o.baseline {
		return nil
	}
	return printBaseline(ctx, stdout, released.rss-start.rss, o.maxBytes)
}
