package eval

import (
	"fmt"
	"math"
	"strings"

	"github.com/httpdns/httpdns/resolver"
)

// TierResult is one tier's share of a Result: its requests and true misroutes (judged against the
// world's truth for the exact client address), and what the resolver's accuracy checks measured of
// them (each check asks upstream with the client's /24 or /56 and compares edge networks).
type TierResult struct {
	Requests  int
	Misroutes int
	// Stale and StaleMisroutes are the answers served stale, and their misroutes: checks do not
	// judge them (their age would be judged, not their key).
	Stale, StaleMisroutes int
	// Match, Mismatch and Unknown are the accuracy checks of the tier's answers by result.
	Match, Mismatch, Unknown uint64
}

// TrueRate is the share of the tier's answers that were misrouted.
func (t *TierResult) TrueRate() float64 {
	if t.Requests == 0 {
		return 0
	}
	return float64(t.Misroutes) / float64(t.Requests)
}

// FreshRate is the share of the answers not served stale that were misrouted: the answers the
// checks judge.
func (t *TierResult) FreshRate() float64 {
	if t.Requests == t.Stale {
		return 0
	}
	return float64(t.Misroutes-t.StaleMisroutes) / float64(t.Requests-t.Stale)
}

// MeasuredRate is the share of the judged checks (match or mismatch) that mismatched, with its 95%
// Wilson score interval.
func (t *TierResult) MeasuredRate() (rate, lo, hi float64) {
	n := float64(t.Match + t.Mismatch)
	if n == 0 {
		return 0, 0, 1
	}
	p := float64(t.Mismatch) / n
	const z = 1.96
	center := (p + z*z/(2*n)) / (1 + z*z/n)
	half := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / (1 + z*z/n)
	return p, max(0, center-half), min(1, center+half)
}

func (t *TierResult) count(right, stale bool) {
	t.Requests++
	if !right {
		t.Misroutes++
	}
	if stale {
		t.Stale++
		if !right {
			t.StaleMisroutes++
		}
	}
}

// tier returns the tier's share of r, made on first use.
func (r *Result) tier(name string) *TierResult {
	t, ok := r.Tiers[name]
	if !ok {
		t = &TierResult{}
		r.Tiers[name] = t
	}
	return t
}

// addChecks copies the resolver's accuracy checks into r.
func (r *Result) addChecks(rep resolver.AccuracyReport) {
	for tier, c := range rep.Counts {
		if c[resolver.CheckMatch]+c[resolver.CheckMismatch]+c[resolver.CheckUnknown] == 0 {
			continue
		}
		t := r.tier(tier)
		t.Match, t.Mismatch, t.Unknown = c[resolver.CheckMatch], c[resolver.CheckMismatch], c[resolver.CheckUnknown]
	}
	r.ChecksSkipped = rep.Skipped
}

// checksConfig is the resolver's accuracy configuration for 1 in sample answers, without the bounds
// that guard a live service: the workload runs far faster than real time (a simulated second in a few
// milliseconds), so 20 checks a second and 16 waiting at once would skip most of the sample, and not
// at random: in runs of TestChecksTrackMisroutes with 16 waiting at most, three sampled answers in
// four were skipped as busy and the rest measured the city+ISP tier 5–17% low.
func checksConfig(sample int) resolver.AccuracyConfig {
	if sample <= 0 {
		return resolver.AccuracyConfig{}
	}
	return resolver.AccuracyConfig{Sample: sample, MaxPerSecond: 1e9, MaxInflight: 1 << 16}
}

// AccuracyTable renders, for the designs run with accuracy checks, each tier's true misroute rate
// (of all its answers, and of those not served stale, which the checks judge) next to the mismatch
// rate its checks measured, per 10,000 answers, with the 95% interval of the measurement.
func AccuracyTable(results []Result) string {
	var b strings.Builder
	b.WriteString("| cache | tier | answers | true misroutes /10k | not stale | checks judged (unknown) | measured mismatches /10k | 95% interval |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		for _, name := range []string{"subnet", "cityisp", "global"} {
			t, ok := r.Tiers[name]
			if !ok || t.Match+t.Mismatch+t.Unknown == 0 {
				continue
			}
			rate, lo, hi := t.MeasuredRate()
			fmt.Fprintf(&b, "| %s | %s | %d | %.1f | %.1f | %d (%d) | %.1f | %.1f–%.1f |\n", r.Name, name, t.Requests,
				t.TrueRate()*1e4, t.FreshRate()*1e4, t.Match+t.Mismatch, t.Unknown, rate*1e4, lo*1e4, hi*1e4)
		}
	}
	return b.String()
}
