package prober_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/prober"
)

func observation(subnet, domain string, answers ...string) prober.Observation {
	o := prober.Observation{
		Subnet: netip.MustParsePrefix(subnet), Domain: domain, Qtype: 1, Scope: -1,
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Round: "r1", Source: prober.SourceProbe,
		Answers: []netip.Addr{},
	}
	for _, a := range answers {
		o.Answers = append(o.Answers, netip.MustParseAddr(a))
	}
	return o
}

func readAll(t *testing.T, path string) ([]prober.Observation, []*prober.LineError) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []prober.Observation
	bad, err := prober.ReadObservations(f, func(o prober.Observation) { got = append(got, o) })
	if err != nil {
		t.Fatal(err)
	}
	return got, bad
}

func TestWriterAppendsConcurrently(t *testing.T) {
	t.Parallel()
	path := tempPath(t, "obs.jsonl")
	w, err := prober.OpenWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if err := w.Write(observation(fmt.Sprintf("10.%d.%d.0/24", g, i), "a.test", "1.2.3.4")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, path); len(got) != 400 {
		t.Errorf("after Sync the file holds %d observations, want 400", len(got))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(observation("10.0.0.0/24", "a.test")); !errors.Is(err, prober.ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if err := w.Sync(); !errors.Is(err, prober.ErrClosed) {
		t.Errorf("Sync after Close = %v, want ErrClosed", err)
	}
	got, bad := readAll(t, path)
	if len(got) != 400 || len(bad) != 0 {
		t.Errorf("read back %d observations and %d bad lines, want 400 and 0", len(got), len(bad))
	}
}

func TestWriterIsolatesTornLine(t *testing.T) {
	t.Parallel()
	path := tempPath(t, "obs.jsonl")
	torn := goodLine + "\n" + goodLine[:40] // killed mid-line
	if err := os.WriteFile(path, []byte(torn), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := prober.OpenWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(observation("10.0.0.0/24", "a.test", "1.2.3.4")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, bad := readAll(t, path)
	if len(got) != 2 || len(bad) != 1 || bad[0].Line != 2 {
		t.Errorf("got %d observations, bad lines %v; want 2 and line 2", len(got), bad)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(b), "}\n") {
		t.Errorf("file does not end with a whole line: %q", b[len(b)-20:])
	}
}

func TestOpenWriterFails(t *testing.T) {
	t.Parallel()
	if _, err := prober.OpenWriter(t.TempDir()); err == nil { // a directory
		t.Error("OpenWriter on a directory succeeded")
	}
}
