package eval

import (
	"context"
	"fmt"
	"strings"

	"github.com/httpdns/httpdns/cache"
)

// Designs are the caches the comparison runs: the classic city+ISP cache, a fixed /24 subnet cache,
// and the learnt adaptive-subnet library (learnt is its CIDRDB path), all with passive refresh.
func Designs(learnt string) []Cache {
	return []Cache{
		{Name: "city+ISP", DefaultTier: cache.TierCityISP},
		{Name: "fixed /24", DefaultTier: cache.TierSubnet},
		{Name: "learnt CIDRDB", DefaultTier: cache.TierSubnet, CIDRDB: learnt},
	}
}

// RefreshDesigns add to Designs the learnt library with active refresh, with sibling prefetch, and
// the recommended configuration: learnt CIDRDB, tiers per domain (CDN names subnet with active
// refresh, global names global, the rest city+ISP), active refresh and prefetch.
func RefreshDesigns(learnt string, e *Env) []Cache {
	all := "*.test subnet active\n"
	return append(Designs(learnt),
		Cache{Name: "learnt + active refresh", DefaultTier: cache.TierSubnet, CIDRDB: learnt, Whitelist: all},
		Cache{Name: "learnt + prefetch", DefaultTier: cache.TierSubnet, CIDRDB: learnt, Prefetch: 4},
		Cache{Name: "recommended", DefaultTier: cache.TierCityISP, CIDRDB: learnt, Prefetch: 4, Whitelist: e.Whitelist()},
	)
}

// Compare runs the workload through every design, in order.
func Compare(ctx context.Context, e *Env, designs []Cache, w Workload) ([]Result, error) {
	var out []Result
	for _, c := range designs {
		r, err := Run(ctx, e, c, w)
		if err != nil {
			return out, fmt.Errorf("%s: %w", c.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Breakdown renders where each design's upstream queries went, per 1000 requests: client misses
// (the requests not answered from the cache) and background refreshes by kind, each with how many
// of them no client used (for the subnet tier and active rules, whose keys are tracked).
func Breakdown(results []Result) string {
	var b strings.Builder
	b.WriteString("| cache | misses | passive refresh (unused) | active refresh (unused) | prefetch (unused) |\n")
	b.WriteString("|---|---:|---:|---:|---:|\n")
	for _, r := range results {
		n := float64(r.Requests) / 1000
		fmt.Fprintf(&b, "| %s | %.1f", r.Name, (1-r.HitRatio)*1000)
		for _, k := range []string{"passive", "active", "prefetch"} {
			fmt.Fprintf(&b, " | %.1f (%.1f)", float64(r.Refreshes[k])/n, float64(r.Unused[k])/n)
		}
		b.WriteString(" |\n")
	}
	return b.String()
}

// Table renders results as a Markdown table.
func Table(results []Result) string {
	var b strings.Builder
	b.WriteString("| cache | misroutes /10k | hit ratio | upstream queries /1k requests | cache entries |\n")
	b.WriteString("|---|---:|---:|---:|---:|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.2f | %.1f%% | %.1f | %d |\n",
			r.Name, r.MisroutesPer10k, 100*r.HitRatio, r.UpstreamPer1k, r.Entries)
	}
	return b.String()
}

// FamilyTable renders results per address family as a Markdown table: misroutes, hit ratio and
// the cache keys each family's requests were answered from.
func FamilyTable(results []Result) string {
	var b strings.Builder
	b.WriteString("| cache | IPv4 misroutes /10k | IPv4 hit ratio | IPv4 keys | IPv6 misroutes /10k | IPv6 hit ratio | IPv6 keys |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.2f | %.1f%% | %d | %.2f | %.1f%% | %d |\n", r.Name,
			r.V4.MisroutesPer10k, 100*r.V4.HitRatio, r.V4.Keys, r.V6.MisroutesPer10k, 100*r.V6.HitRatio, r.V6.Keys)
	}
	return b.String()
}
