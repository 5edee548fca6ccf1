package cidrdb_test

import (
	"fmt"
	"log"
	"os"

	"github.com/httpdns/httpdns/cidrdb"
)

// ExampleBuildFromGeo makes a starting CIDRDB from City and ISP databases
// (here coarse, /16 units, to stay short), merges its first two blocks as
// the prober would, and reports what changed.
func ExampleBuildFromGeo() {
	dir, err := os.MkdirTemp("", "cidrdb-build-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	city, isp, err := cidrdb.WriteExampleGeo(dir)
	if err != nil {
		log.Fatal(err)
	}
	recs, err := cidrdb.BuildFromGeo(city, isp, cidrdb.BuildOptions{Bits4: 16})
	if err != nil {
		log.Fatal(err)
	}
	s := cidrdb.Summarize(recs)
	fmt.Printf("%d blocks: IPv4 %d, IPv6 %d\n", s.Blocks, s.BlocksIPv4, s.BlocksIPv6)
	for _, r := range recs[:2] {
		fmt.Println(r.BlockID, r.Network, r.Country, r.City, r.ISP, r.ASN)
	}
	fmt.Println(recs[len(recs)-1].BlockID, recs[len(recs)-1].Network, recs[len(recs)-1].ISP)

	learnt := append([]cidrdb.Record(nil), recs...)
	learnt[1].BlockID = learnt[0].BlockID // 10.0.0.0/16 and 10.1.0.0/16 answer alike
	rep := cidrdb.Diff(recs, learnt)
	fmt.Printf("merged %d from %d, unchanged %d\n", rep.Merged.Blocks, rep.Merged.OldBlocks, rep.Unchanged.Blocks)
	fmt.Println(rep.Merged.Examples[0])
	// Output:
	// 259 blocks: IPv4 258, IPv6 1
	// 1 10.0.0.0/16 CN Beijing China Telecom 4134
	// 2 10.1.0.0/16 CN Beijing China Telecom 4134
	// 259 2001:db8::/32 China Unicom
	// merged 1 from 2, unchanged 257
	// #1 10.0.0.0/16 CN/Beijing/China Telecom/AS4134 <- #1 10.0.0.0/16 CN/Beijing/China Telecom/AS4134, #2 10.1.0.0/16 CN/Beijing/China Telecom/AS4134
}
