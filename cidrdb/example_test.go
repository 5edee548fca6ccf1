package cidrdb_test

import (
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/httpdns/httpdns/cidrdb"
)

// Example writes a CIDRDB with one block that is not CIDR-aligned
// (10.1.1.0/24 + 10.1.2.0/24, which no /23 covers) and one aligned block,
// then locates addresses in it and outside it.
func Example() {
	dir, err := os.MkdirTemp("", "cidrdb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// MaxMind City and ISP (or ASN) schema databases; generated here.
	city, isp, err := cidrdb.WriteExampleGeo(dir)
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(dir, "cidrdb.mmdb")
	bj := func(network string, id uint32) cidrdb.Record {
		return cidrdb.Record{Network: netip.MustParsePrefix(network), BlockID: id,
			Country: "CN", City: "Beijing", ISP: "China Telecom", ASN: 4134}
	}
	err = cidrdb.WriteFile(path, []cidrdb.Record{bj("10.1.1.0/24", 7), bj("10.1.2.0/24", 7), bj("10.1.4.0/22", 8)})
	if err != nil {
		log.Fatal(err)
	}
	db, err := cidrdb.Open(cidrdb.Config{
		CityPath:   city,
		ISPPath:    isp,
		CIDRDBPath: path,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	fmt.Println("blocks:", db.Blocks())
	for _, a := range []string{"10.1.1.9", "10.1.2.9", "10.1.5.9", "192.0.2.9"} {
		loc := db.Locate(netip.MustParseAddr(a))
		fmt.Printf("%-9s block %-13s network %-13s id %d %s/%s/%s\n",
			a, loc.Block, loc.Network, loc.BlockID, loc.Country, loc.City, loc.ISP)
	}
	fmt.Println("siblings:", db.Siblings(db.Locate(netip.MustParseAddr("10.1.1.9")), 4))
	// Output:
	// blocks: 2
	// 10.1.1.9  block 10.1.1.0/24   network 10.1.1.0/24   id 7 CN/Beijing/China Telecom
	// 10.1.2.9  block 10.1.1.0/24   network 10.1.2.0/24   id 7 CN/Beijing/China Telecom
	// 10.1.5.9  block 10.1.4.0/22   network 10.1.4.0/22   id 8 CN/Beijing/China Telecom
	// 192.0.2.9 block 192.0.2.0/24  network 192.0.2.0/24  id 0 US/Seattle/Example Net
	// siblings: [10.1.4.0/22]
}
