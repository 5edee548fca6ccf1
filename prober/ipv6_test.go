package prober_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/prober"
	"github.com/miekg/dns"
)

// TestLearnWideIPv6KeepsOnlyAskedSlash56s: a /32 allocation whose probed /56s
// answer alike must not become one /32 block (the rest of it was never
// asked; an echoing CDN's answer to one /56 says nothing about the others),
// and an answer to a source wider than /56 (the old /40 units) is no
// evidence about the /56s inside it.
func TestLearnWideIPv6KeepsOnlyAskedSlash56s(t *testing.T) {
	t.Parallel()
	blocks := []cidrdb.Record{rec("2400:1::/32", 1), rec("10.0.0.0/24", 2)}
	in := []prober.Observation{
		obs(1, "2400:1:0:100::/56", "a.test", 56, "1.1.1.1"),
		obs(1, "2400:1:0:200::/56", "a.test", 56, "1.1.1.1"),
		obs(1, "2400:1:ff00:300::/56", "a.test", 56, "1.1.1.1"),
		obs(1, "2400:1:ff00:400::/56", "a.test", 56, "2.2.2.2"),
		obs(1, "2400:1:7700::/40", "a.test", 40, "3.3.3.3"), // a /40 source echoed: no evidence
		obs(1, "10.0.0.0/24", "a.test", 24, "9.9.9.9"),
	}
	res, err := prober.Learn(prober.LearnInput{Blocks: blocks, Observations: in, Domains: []string{"a.test"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Records {
		got = append(got, fmt.Sprintf("%s=%d", r.Network, r.BlockID))
	}
	want := "10.0.0.0/24=2 2400:1:0:100::/56=3 2400:1:0:200::/56=3 2400:1:ff00:300::/56=3 2400:1:ff00:400::/56=4"
	if strings.Join(got, " ") != want {
		t.Errorf("learnt %v\nwant    %s", got, want)
	}
	if r := res.Report; r.IPv6.BlocksBefore != 1 || r.IPv6.BlocksAfter != 2 || r.IPv6.Subnets != 4 || r.IPv4.BlocksAfter != 1 {
		t.Errorf("report per family %+v %+v", r.IPv4, r.IPv6)
	}
}

// TestLearnWideIPv6DropsIncompleteSlash56: a /56 of a wide network without
// an answer to every name cannot be compared; it leaves the library rather
// than keeping the whole old block.
func TestLearnWideIPv6DropsIncompleteSlash56(t *testing.T) {
	t.Parallel()
	in := []prober.Observation{
		obs(1, "2400:1:0:100::/56", "a.test", 56, "1.1.1.1"),
		obs(1, "2400:1:0:100::/56", "b.test", 56, "1.1.1.2"),
		obs(1, "2400:1:0:200::/56", "a.test", 56, "1.1.1.1"),
	}
	res, err := prober.Learn(prober.LearnInput{Blocks: []cidrdb.Record{rec("2400:1::/32", 1)}, Observations: in,
		Domains: []string{"a.test", "b.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 1 || res.Records[0].Network != netip.MustParsePrefix("2400:1:0:100::/56") {
		t.Errorf("learnt %+v, want only the complete /56", res.Records)
	}
}

func TestUnitsForNeverEnumeratesWideIPv6(t *testing.T) {
	t.Parallel()
	recs := []cidrdb.Record{rec("2400:1::/32", 1), rec("2400:2::/40", 2), rec("2400:3::/52", 3), rec("10.0.0.0/23", 4)}
	demand := []netip.Prefix{netip.MustParsePrefix("2400:1:5:600::/56"), netip.MustParsePrefix("2400:1:5:6ff::/64"),
		netip.MustParsePrefix("2400:9::/56"), netip.MustParsePrefix("20.0.0.0/24")}
	units, sample := prober.UnitsFor(recs, demand, 8)
	var u []string
	for _, p := range units {
		u = append(u, p.String())
	}
	want := "10.0.0.0/24 10.0.1.0/24 2400:1:5:600::/56 2400:3::/56 2400:3:0:100::/56 2400:3:0:200::/56"
	if got := strings.Join(u, " "); !strings.HasPrefix(got, want) || len(units) != 2+1+16 {
		t.Errorf("units %s, want %s ... (the /52's 16 /56s)", got, want)
	}
	if len(sample) != 16 {
		t.Fatalf("sample of %d, want 8 per wide network", len(sample))
	}
	per := map[netip.Prefix]int{}
	for _, s := range sample {
		if s.Bits() != 56 {
			t.Errorf("sample %s is not a /56", s)
		}
		for _, r := range recs[:2] {
			if r.Network.Contains(s.Addr()) {
				per[r.Network]++
			}
		}
	}
	if len(per) != 2 || per[recs[0].Network] != 8 {
		t.Errorf("sample spread %v", per)
	}
	if again, _ := prober.UnitsFor(recs, demand, 8); !slices.Equal(again, units) {
		t.Error("UnitsFor is not deterministic")
	}
}

// TestProbeBudget: -max-queries is a hard bound; the run ends without
// error and still writes a library.
func TestProbeBudget(t *testing.T) {
	t.Parallel()
	tw := newTestWorld(t, 512)
	dir := t.TempDir()
	cfg := prober.RunConfig{
		Probe:   fastProbe([]string{tw.srv.Addr()}, tw.names...),
		Start:   tw.start(),
		OutPath: filepath.Join(dir, "learnt.mmdb"),
		Locator: tw.loc,
	}
	cfg.Probe.MaxQueries = 500
	before := tw.srv.Queries()
	rep, err := prober.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	sent := tw.srv.Queries() - before
	if p := rep.Probe; p == nil || !p.BudgetSpent || p.Queries != 500 || sent > 500 || p.Failed != 0 {
		t.Errorf("budget 500: stats %+v, server saw %d queries", rep.Probe, sent)
	}
	if _, err := os.Stat(cfg.OutPath); err != nil {
		t.Errorf("no library written: %v", err)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "budget:") || !strings.Contains(text.String(), "IPv6:") {
		t.Errorf("report text:\n%s", text.String())
	}
}

// TestRunProbesDemandSlash56s: with a demand log, the /56s clients asked from
// are probed and learnt, the wide allocation around them is not enumerated,
// and every learnt IPv6 block answers alike for the clients in it.
func TestRunProbesDemandSlash56s(t *testing.T) {
	t.Parallel()
	cfg := cdnsim.EvalConfig()
	cfg.Subnets, cfg.V6Allocs, cfg.V6Subnets = 480, 15, 600
	w, err := cdnsim.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	city, isp, err := w.WriteGeoDBs(dir)
	if err != nil {
		t.Fatal(err)
	}
	geo, err := cidrdb.Open(cidrdb.Config{CityPath: city, ISPPath: isp})
	if err != nil {
		t.Fatal(err)
	}
	defer geo.Close()
	start, err := cidrdb.BuildFromGeo(city, isp, cidrdb.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	demandPath := filepath.Join(dir, "demand.jsonl")
	var lines strings.Builder
	for _, s := range w.Subnets6() {
		fmt.Fprintf(&lines, `{"subnet":%q,"domain":"img.cdn-a.test","qtype":28,"time":"2026-03-01T10:00:00Z","source":"demand"}`+"\n", s)
	}
	lines.WriteString("not json\n")
	if err := os.WriteFile(demandPath, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range w.Domains() {
		if d.Kind == cdnsim.KindHonest || d.Kind == cdnsim.KindEcho {
			names = append(names, d.Name)
		}
	}
	srv := cdnsim.StartTest(t, w)
	rc := prober.RunConfig{Probe: fastProbe([]string{srv.Addr()}, names...), Start: start, Locator: geo,
		OutPath: filepath.Join(dir, "learnt.mmdb"), DemandPaths: []string{demandPath, filepath.Join(dir, "missing")}}
	rep, err := prober.Run(context.Background(), rc)
	if err != nil {
		t.Fatal(err)
	}
	if rep.MalformedLines != 1 || rep.IPv6.Subnets < len(w.Subnets6()) {
		t.Errorf("report: %d malformed lines, %d IPv6 units for %d demand /56s", rep.MalformedLines, rep.IPv6.Subnets, len(w.Subnets6()))
	}
	maxIPv6 := (len(w.Subnets6()) + 15*prober.DefaultSample6) * len(names)
	if rep.Probe.IPv6.Queries > maxIPv6 {
		t.Errorf("%d IPv6 queries, more than demand and sample × names (%d)", rep.Probe.IPv6.Queries, maxIPv6)
	}
	db, err := cidrdb.Open(cidrdb.Config{CityPath: city, ISPPath: isp, CIDRDBPath: rc.OutPath})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	vectors := map[uint32]string{}
	merged := 0
	for i, s := range w.Subnets6() {
		c := w.ClientIn(s, i)
		loc := db.Locate(c)
		if loc.BlockID == 0 {
			t.Fatalf("demand /56 %s not in the learnt library", s)
		}
		var v []string
		for _, n := range names {
			v = append(v, fmt.Sprint(w.Truth(n, dns.TypeAAAA, c)))
		}
		vec := strings.Join(v, " ")
		if prev, ok := vectors[loc.BlockID]; ok {
			merged++
			if prev != vec {
				t.Fatalf("block %d (%s) holds clients the CDNs answer differently", loc.BlockID, loc.Block)
			}
		}
		vectors[loc.BlockID] = vec
		if p := loc.Network; p.Bits() < 56-8 {
			t.Fatalf("client %v in a learnt network %s wider than its run of /56s could be", c, p)
		}
	}
	if merged < len(w.Subnets6())/2 {
		t.Errorf("only %d of %d demand /56s share a block with another", merged, len(w.Subnets6()))
	}
	// Outside every demand /56 the allocation is not in the library.
	far := w.ClientIn(netip.PrefixFrom(w.Subnets6()[0].Addr(), 40).Masked(), 99)
	if loc := db.Locate(far); loc.BlockID != 0 && !slices.ContainsFunc(w.Subnets6(), func(p netip.Prefix) bool { return p.Contains(far) }) {
		t.Logf("client %v outside the demand /56s located in block %v (a sample /56)", far, loc.Block)
	}
}

func TestParseDemand(t *testing.T) {
	t.Parallel()
	d, err := prober.ParseDemand([]byte(`{"subnet":"2400:1:2:3::/56","qtype":28,"block":"2400:1::/32","time":"2026-03-01T10:00:00Z","source":"demand"}`))
	if err != nil || d.Subnet != netip.MustParsePrefix("2400:1:2::/56") || d.Block != netip.MustParsePrefix("2400:1::/32") {
		t.Errorf("ParseDemand = %+v, %v", d, err)
	}
	for _, bad := range []string{`{}`, `{"subnet":"2400::/56","source":"probe"}`, `{"subnet":"x","source":"demand"}`, `[`} {
		if _, err := prober.ParseDemand([]byte(bad)); err == nil {
			t.Errorf("ParseDemand(%s) accepted", bad)
		}
	}
}
