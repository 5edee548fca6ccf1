package prober_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/prober"
)

// TestLearnsWorldBlocks probes a simulated CDN world from its geo /24s and
// checks the learnt blocks against the CDNs' real ones.
func TestLearnsWorldBlocks(t *testing.T) {
	t.Parallel()
	tw := newTestWorld(t, 1024)
	out := tempPath(t, "learnt.mmdb")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := prober.Run(ctx, prober.RunConfig{
		Probe:   prober.ProbeConfig{Upstreams: []string{tw.srv.Addr()}, Domains: tw.names, Rate: -1},
		Start:   tw.start(),
		OutPath: out,
		Locator: tw.loc,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", b.String())
	uniform, learnt, truth, runs := tw.accuracy(t, tw.openLearnt(t, out))
	t.Logf("uniform %.4f, learnt blocks %d, truth blocks %d, answer runs %d", uniform, learnt, truth, runs)
	if uniform < 0.99 {
		t.Errorf("%.2f%% of the /24s sit in a block uniform in truth, want >= 99%%", 100*uniform)
	}
	if float64(learnt) > 1.2*float64(truth) {
		t.Errorf("%d learnt blocks, want at most 1.2x the %d truth blocks", learnt, truth)
	}
	// Stricter: CDN blocks routed to one edge are one block to a learner;
	// the learnt library may exceed that ideal only by the /24s the IP
	// library misplaces, which must not merge across ISPs.
	if float64(learnt) > 1.2*float64(runs) {
		t.Errorf("%d learnt blocks, want at most 1.2x the %d runs of equal true answers", learnt, runs)
	}
	if rep.WrongNew.AnswerShare != 0 || rep.SubnetsCovered != rep.Subnets {
		t.Errorf("report: wrong answers %+v, covered %d of %d", rep.WrongNew, rep.SubnetsCovered, rep.Subnets)
	}
}
