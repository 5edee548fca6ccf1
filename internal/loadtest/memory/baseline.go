package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/httpdns/httpdns/internal/loadtest/demoproc"
)

// printBaseline builds httpdns, runs `httpdns demo` and, beside it, `httpdns serve` of the demo's
// config, each with one answer cached, and prints their idle resident sets and the estimate of
// the service's RSS once it holds the entries, whose RSS growth in this process was entriesRSS.
func printBaseline(ctx context.Context, w io.Writer, entriesRSS, maxBytes int64) error {
	demo, err := demoproc.Start(ctx)
	if err != nil {
		return err
	}
	defer demo.Close()
	serve, err := demo.Serve(ctx)
	if err != nil {
		return err
	}
	defer serve.Stop()
	serveRSS, _, err := procRSS(strconv.Itoa(serve.PID()))
	if err != nil {
		return err
	}
	demoRSS, _, err := procRSS(strconv.Itoa(demo.PID()))
	if err != nil {
		return err
	}
	dbs, err := mmdbBytes(demo.Dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nservice baseline, idle with one answer cached (VmRSS):\n")
	fmt.Fprintf(w, "  httpdns serve (the demo's config, default cache budget, its databases %s)  %s\n", kib(dbs), mib(serveRSS))
	fmt.Fprintf(w, "  httpdns demo (the service plus the simulated CDN's DNS servers)                %s\n", mib(demoRSS))
	fmt.Fprintf(w, "estimate for httpdns serve holding these entries (cache max_bytes %s): %s + %s = %s,\n",
		mib(maxBytes), mib(serveRSS), mib(entriesRSS), mib(serveRSS+entriesRSS))
	fmt.Fprintf(w, "plus the size of the geo databases and CIDRDB it is given, which it reads into memory\n")
	return nil
}

// mmdbBytes sums the sizes of the .mmdb files in dir: the databases the service reads into memory.
func mmdbBytes(dir string) (int64, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.mmdb"))
	if err != nil {
		return 0, err
	}
	var total int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return 0, fmt.Errorf("sizing the demo's databases: %w", err)
		}
		total += fi.Size()
	}
	return total, nil
}

// kib formats bytes in KiB.
func kib(b int64) string {
	return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
}
