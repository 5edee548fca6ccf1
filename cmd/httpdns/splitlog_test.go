package main

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/httpdns/httpdns/prober"
	"github.com/httpdns/httpdns/resolver"
)

func TestSplitLogWritesObservationsAndRotates(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "splits.jsonl")
	l, err := newSplitLog(path, 2000, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sig := resolver.SplitSignal{
		Name: "img.cdn-c.test", Qtype: 1,
		Block:  netip.MustParsePrefix("20.1.0.0/20"),
		Source: netip.MustParsePrefix("20.1.2.0/24"),
		Scope:  netip.MustParsePrefix("20.1.2.64/26"),
		Answer: []netip.Addr{netip.MustParseAddr("63.0.0.1")},
		Time:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	const n = 40
	for range n {
		l.RecordSplit(sig)
	}
	l.Close()
	var got []prober.Observation
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatalf("%s: %v (rotation should have kept both files)", p, err)
		}
		bad, err := prober.ReadObservations(f, func(o prober.Observation) { got = append(got, o) })
		f.Close()
		if err != nil || len(bad) > 0 {
			t.Fatalf("reading %s: %v %v", p, err, bad)
		}
		if fi, _ := os.Stat(p); fi.Size() > 2000 {
			t.Errorf("%s is %d bytes, over the 2000-byte bound", p, fi.Size())
		}
	}
	if len(got) == 0 || len(got) > n {
		t.Fatalf("read back %d observations of %d written", len(got), n)
	}
	o := got[len(got)-1]
	if o.Subnet != sig.Source || o.Scope != 26 || o.Source != prober.SourceSplit || o.Domain != sig.Name ||
		len(o.Answers) != 1 || o.Answers[0] != sig.Answer[0] || !o.Time.Equal(sig.Time) {
		t.Errorf("observation %+v does not carry the signal %+v", o, sig)
	}
}
