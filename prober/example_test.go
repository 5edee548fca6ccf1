package prober_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/prober"
)

// Four /24 blocks; a CDN answers the first two with one edge and the last
// two with another, and says with an ECS scope of 23 that its answer for
// 10.0.2.0/24 holds for 10.0.3.0/24 too.
func ExampleLearn() {
	var blocks []cidrdb.Record
	for i := range 4 {
		blocks = append(blocks, cidrdb.Record{Network: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), 0}), 24),
			BlockID: uint32(i + 1), Country: "CN", City: "Beijing", ISP: "Example Telecom"})
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	seen := func(subnet string, scope int, edge string) prober.Observation {
		return prober.Observation{Subnet: netip.MustParsePrefix(subnet), Domain: "img.cdn.test", Qtype: 1,
			Answers: []netip.Addr{netip.MustParseAddr(edge)}, Scope: scope, Time: at, Round: "r1", Source: prober.SourceProbe}
	}
	res, err := prober.Learn(prober.LearnInput{
		Blocks:  blocks,
		Domains: []string{"img.cdn.test"},
		Observations: []prober.Observation{
			seen("10.0.0.0/24", 24, "192.0.2.1"),
			seen("10.0.1.0/24", 24, "192.0.2.1"),
			seen("10.0.2.0/24", 23, "198.51.100.1"),
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res.Records {
		fmt.Println(r.Network, r.BlockID)
	}
	fmt.Printf("blocks %d -> %d\n", res.Report.BlocksBefore, res.Report.BlocksAfter)
	// Output:
	// 10.0.0.0/23 5
	// 10.0.2.0/23 6
	// blocks 4 -> 2
}
