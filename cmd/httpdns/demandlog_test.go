package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/httpdns/httpdns/prober"
	"github.com/httpdns/httpdns/resolver"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDemandLogWritesEachSlash56OncePerPeriod(t *testing.T) { // not parallel: AllocsPerRun
	path := filepath.Join(t.TempDir(), "demand.jsonl")
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	d, err := newDemandLog(path, 1<<20, time.Hour, 3, nil, discard(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	sig := func(p string) resolver.DemandSignal {
		return resolver.DemandSignal{Name: "img.cdn-a.test", Qtype: 28, Source: netip.MustParsePrefix(p),
			Block: netip.MustParsePrefix("2400::/32"), Time: clk.Now()}
	}
	a, b := sig("2400:0:1:100::/56"), sig("2400:0:1:200::/56")
	for range 5 {
		d.RecordDemand(a)
		d.RecordDemand(b)
	}
	if n := testing.AllocsPerRun(100, func() { d.RecordDemand(a) }); n != 0 {
		t.Errorf("a repeated /56 costs %v allocations, want 0", n)
	}
	d.RecordDemand(sig("2400:0:1:300::/56"))
	d.RecordDemand(sig("2400:0:1:400::/56")) // a fourth /56 in the period: over the bound of 3
	clk.Add(time.Hour)
	d.RecordDemand(sig("2400:0:1:100::/56")) // a new period: written again
	d.RecordDemand(resolver.DemandSignal{})  // no prefix: ignored
	d.Close()
	d.RecordDemand(sig("2400:0:1:500::/56")) // after Close: dropped, no panic
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []prober.Demand
	bad, err := prober.ReadDemand(f, func(x prober.Demand) { got = append(got, x) })
	if err != nil || len(bad) > 0 {
		t.Fatalf("reading the demand log: %v %v", err, bad)
	}
	if len(got) != 4 || got[0].Subnet != a.Source || got[0].Block != a.Block || got[0].Qtype != 28 || got[3].Subnet != a.Source {
		t.Errorf("demand lines %+v, want the 3 /56s of the first period and the first again", got)
	}
	if dropped := testutil.ToFloat64(d.log.dropped); dropped != 2 {
		t.Errorf("dropped %v, want 2 (over the bound, after Close)", dropped)
	}
}
