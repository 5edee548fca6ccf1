package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/httpdns/httpdns/cache"
)

// memSample is the memory of this process at one moment, in bytes.
type memSample struct {
	// heapAlloc is the bytes of live heap objects (after a collection, all of them live).
	heapAlloc int64
	// heapInuse is the bytes of heap spans holding objects, fragmentation included.
	heapInuse int64
	// sys is all the memory the Go runtime has reserved from the OS.
	sys int64
	// rss and hwm are the resident set now and at its peak (VmRSS, VmHWM).
	rss, hwm int64
}

// sample collects garbage and reads the heap statistics and this process's resident set.
func sample() (memSample, error) {
	runtime.GC()
	return read()
}

// sampleReleased is sample after returning all free memory to the OS: the resident set the live
// heap needs, without what the runtime keeps for future allocations.
func sampleReleased() (memSample, error) {
	debug.FreeOSMemory()
	return read()
}

func read() (memSample, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{heapAlloc: int64(ms.HeapAlloc), heapInuse: int64(ms.HeapInuse), sys: int64(ms.Sys)}
	var err error
	s.rss, s.hwm, err = procRSS("self")
	return s, err
}

// procRSS reads the resident set (VmRSS) and its peak (VmHWM) of a process ("self" or a pid)
// from /proc, in bytes.
func procRSS(pid string) (rss, hwm int64, err error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("reading the resident set: %w", err)
	}
	defer f.Close()
	return parseStatus(f)
}

// errStatus is returned when a /proc status file lacks the resident set lines.
var errStatus = errors.New("no VmRSS and VmHWM in /proc status")

// parseStatus returns the VmRSS and VmHWM lines of a /proc/PID/status file ("VmRSS:   20908 kB"),
// in bytes.
func parseStatus(r io.Reader) (rss, hwm int64, err error) {
	rss, hwm = -1, -1
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, value, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || (string(name) != "VmRSS" && string(name) != "VmHWM") {
			continue
		}
		kb, ok := strings.CutSuffix(strings.TrimSpace(string(value)), " kB")
		n, err := strconv.ParseInt(kb, 10, 64)
		if !ok || err != nil || n < 0 {
			return 0, 0, fmt.Errorf("%w: bad line %q", errStatus, sc.Text())
		}
		if string(name) == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if rss < 0 || hwm < 0 {
		return 0, 0, errStatus
	}
	return rss, hwm, nil
}

// stage is a named memory sample.
type stage struct {
	name string
	mem  memSample
}

// report is everything the cache measurement found; stages are start, after cache.New, after the
// fill and after releasing free memory, in that order.
type report struct {
	opts     options
	fill     filled
	fillTime time.Duration
	bytes    int64
	stages   []stage
}

// print writes the memory table and the per-entry figures.
func (r report) print(w io.Writer) {
	f := r.fill
	fmt.Fprintf(w, "cache: %d typical subnet-tier entries (2 IPv4, TTL 300 s), max_bytes %s; filled in %v\n\n",
		f.requested, mib(r.opts.maxBytes), r.fillTime.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tHeapAlloc\tHeapInuse\tSys\tRSS\t")
	for _, s := range r.stages {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", s.name, mib(s.mem.heapAlloc), mib(s.mem.heapInuse), mib(s.mem.sys), mib(s.mem.rss))
	}
	last := r.stages[len(r.stages)-1].mem
	fmt.Fprintf(tw, "peak (VmHWM)\t\t\t\t%s\t\n", mib(max(last.hwm, last.rss)))
	tw.Flush()

	stored := f.perTier[cache.TierSubnet] + f.perTier[cache.TierCityISP] + f.perTier[cache.TierGlobal]
	fmt.Fprintf(w, "\nentries: requested %d, stored %d (cache.Len: subnet %d, cityisp %d, global %d; found by Peek %d)\n",
		f.requested, stored, f.perTier[cache.TierSubnet], f.perTier[cache.TierCityISP], f.perTier[cache.TierGlobal], f.present)
	fmt.Fprintf(w, "Set calls %d, of them %d re-Sets of entries found missing", f.sets, f.retried)
	if short := f.requested - f.present; short > 0 {
		fmt.Fprintf(w, "; SHORTFALL %d entries not stored", short)
	}
	fmt.Fprintln(w)
	start, afterNew, filled := r.stages[0].mem, r.stages[1].mem, r.stages[2].mem
	fmt.Fprintf(w, "admission counters (heap cache.New took): %s\n\n", mib(afterNew.heapAlloc-start.heapAlloc))
	if stored == 0 {
		return
	}
	per := func(b int64) string { return fmt.Sprintf("%.0f B", float64(b)/float64(stored)) }
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "per stored entry\t\n")
	fmt.Fprintf(tw, "  heap (HeapAlloc growth over the fill)\t%s\n", per(filled.heapAlloc-afterNew.heapAlloc))
	fmt.Fprintf(tw, "  heap with the admission counters (growth since start)\t%s\n", per(filled.heapAlloc-start.heapAlloc))
	fmt.Fprintf(tw, "  heap spans (HeapInuse growth over the fill)\t%s\n", per(filled.heapInuse-afterNew.heapInuse))
	fmt.Fprintf(tw, "  cost accounting (cache.Bytes)\t%s\n", per(r.bytes))
	fmt.Fprintf(tw, "  RSS growth since start, after FreeOSMemory\t%s\n", per(last.rss-start.rss))
	tw.Flush()
	fmt.Fprintf(w, "cache.Bytes() %s against heap growth over the fill %s: accounting/heap %.2f\n",
		mib(r.bytes), mib(filled.heapAlloc-afterNew.heapAlloc), float64(r.bytes)/float64(filled.heapAlloc-afterNew.heapAlloc))
}

// mib formats bytes in MiB.
func mib(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
