package prober_test

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/prober"
)

// BenchmarkProbeThroughput measures probing against three recursive nodes
// 25 ms away (simulated authoritatives that delay every reply), with the
// default rate and concurrency and with no rate limit. Only echo-CDN
// names are asked, whose scopes save no probe, so every probe is sent:
// about 4,800 a run. It reports probes/s and the minutes 150,000 probes
// (12,000 /24s × 12 names) take at that pace:
//
//	go test -run '^$' -bench ProbeThroughput -benchtime 1x ./prober
func BenchmarkProbeThroughput(b *testing.B) {
	tw := newTestWorld(b, 1280)
	var nodes []string
	for range 3 {
		s := cdnsim.StartTest(b, tw.w)
		s.SetDelay(25 * time.Millisecond)
		nodes = append(nodes, s.Addr())
	}
	names := []string{"video.cdn-b.test", "live.cdn-b.test", "pay.cdn-e.test", "feed.cdn-e.test"}
	units := tw.w.Subnets()
	for _, bc := range []struct {
		name string
		rate float64
	}{{"defaults", 0}, {"unlimited", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := prober.ProbeConfig{Upstreams: nodes, Domains: names, Rate: bc.rate}
			probes := 0
			start := time.Now()
			for b.Loop() {
				st, err := prober.Probe(context.Background(), cfg, units, nil, &memSink{})
				if err != nil {
					b.Fatal(err)
				}
				if st.Failed > 0 {
					b.Fatalf("%d probes failed", st.Failed)
				}
				probes += st.Answered
			}
			rate := float64(probes) / time.Since(start).Seconds()
			b.ReportMetric(rate, "probes/s")
			b.ReportMetric(150000/rate/60, "min/150k_probes")
		})
	}
}

// BenchmarkLearn learns a library from one round of observations of a
// world of about 12,000 /24s and its 11 CDN names (every /24 asked, no
// scope saving: about 132,000 observations), the size `httpdns probe`
// handles by default:
//
//	go test -run '^$' -bench Learn -benchtime 3x ./prober
func BenchmarkLearn(b *testing.B) {
	cfg := cdnsim.DefaultConfig()
	cfg.Subnets = 12000
	w, err := cdnsim.NewWorld(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for _, d := range w.Domains() {
		if d.Kind == cdnsim.KindHonest || d.Kind == cdnsim.KindEcho {
			names = append(names, d.Name)
		}
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var obs []prober.Observation
	for _, sub := range w.Subnets() {
		for _, n := range names {
			ips, scope, _, rcode := w.Answer(n, dns.TypeA, sub)
			obs = append(obs, prober.Observation{Subnet: sub, Domain: n, Qtype: dns.TypeA, Answers: ips, Rcode: rcode,
				Scope: scope, Time: at, Round: "r1", Source: prober.SourceProbe})
		}
	}
	in := prober.LearnInput{Blocks: prober.SubnetRecords(w.Subnets(), nil), Observations: obs, Domains: names}
	b.ReportAllocs()
	var blocks int
	for b.Loop() {
		res, err := prober.Learn(in)
		if err != nil {
			b.Fatal(err)
		}
		blocks = res.Report.BlocksAfter
	}
	b.ReportMetric(float64(len(obs)), "observations")
	b.ReportMetric(float64(blocks), "blocks")
}
