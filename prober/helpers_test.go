package prober_test

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/httpdns/httpdns/prober"
)

// testWorld is a simulated CDN world with its geo databases and server.
type testWorld struct {
	w        *cdnsim.World
	srv      *cdnsim.Server
	loc      *cidrdb.DB // geo databases only: the IP library's view
	cityPath string
	ispPath  string
	names    []string // the CDN names, the probe list
}

// newTestWorld builds a world of about subnets /24s, writes its geo
// databases and serves it on 127.0.0.1:0 for the test.
func newTestWorld(t testing.TB, subnets int) *testWorld {
	t.Helper()
	cfg := cdnsim.DefaultConfig()
	cfg.Subnets = subnets
	w, err := cdnsim.NewWorld(cfg)
	if err != nil {
		t.Fatalf("building world: %v", err)
	}
	city, isp, err := w.WriteGeoDBs(t.TempDir())
	if err != nil {
		t.Fatalf("writing geo databases: %v", err)
	}
	db, err := cidrdb.Open(cidrdb.Config{CityPath: city, ISPPath: isp})
	if err != nil {
		t.Fatalf("opening geo databases: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	tw := &testWorld{w: w, srv: cdnsim.StartTest(t, w), loc: db, cityPath: city, ispPath: isp}
	for _, d := range w.Domains() {
		if d.Kind == cdnsim.KindHonest || d.Kind == cdnsim.KindEcho {
			tw.names = append(tw.names, d.Name)
		}
	}
	return tw
}

// start is the starting library of a fresh deployment: every /24 of the
// world as its own block, placed by the geo databases.
func (tw *testWorld) start() []cidrdb.Record {
	return prober.SubnetRecords(tw.w.Subnets(), tw.loc)
}

// openLearnt opens a learnt CIDRDB together with the world's geo databases.
func (tw *testWorld) openLearnt(t testing.TB, path string) *cidrdb.DB {
	t.Helper()
	db, err := cidrdb.Open(cidrdb.Config{CityPath: tw.cityPath, ISPPath: tw.ispPath, CIDRDBPath: path})
	if err != nil {
		t.Fatalf("opening learnt cidrdb: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// quarters are the /26 pieces of a /24: the finest any CDN of the world
// cuts, so four clients, one in each, see every answer a /24 can get.
func quarters(p netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, 4)
	a := p.Addr().As4()
	for i := range 4 {
		a[3] = byte(i * 64)
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(a), 26))
	}
	return out
}

// truthVector is what every probe name really answers client.
func (tw *testWorld) truthVector(client netip.Addr) string {
	var b strings.Builder
	for _, n := range tw.names {
		for _, ip := range tw.w.Truth(n, dns.TypeA, client) {
			b.WriteString(ip.String())
			b.WriteByte(',')
		}
		b.WriteByte('|')
	}
	return b.String()
}

// accuracy judges a learnt library against the world's truth: the share of
// the world's /24s whose every quarter sits in a block where every client
// gets the same true answers, the number of learnt blocks, and the number
// of truth blocks (the common refinement of all CDNs' partitions over the
// /24s' quarters).
func (tw *testWorld) accuracy(t testing.TB, db *cidrdb.DB) (uniformShare float64, learnt, truth, runs int) {
	t.Helper()
	type member struct {
		sub    netip.Prefix
		vector string
	}
	blocks := map[uint32][]member{}
	owners := map[string]bool{}
	byCDN := tw.truePartitions()
	for _, sub := range tw.w.Subnets() {
		for _, q := range quarters(sub) {
			client := tw.w.ClientIn(q, 0)
			loc := db.Locate(client)
			if loc.BlockID == 0 {
				t.Fatalf("%s (of %s) is in no learnt block", client, sub)
			}
			blocks[loc.BlockID] = append(blocks[loc.BlockID], member{sub, tw.truthVector(client)})
			var key strings.Builder
			for _, part := range byCDN {
				key.WriteString(part[q])
				key.WriteByte('/')
			}
			owners[key.String()] = true
		}
	}
	runs = tw.answerRuns()
	bad := map[netip.Prefix]bool{}
	for _, ms := range blocks {
		for _, m := range ms {
			if m.vector != ms[0].vector {
				for _, m := range ms {
					bad[m.sub] = true
				}
				break
			}
		}
	}
	n := len(tw.w.Subnets())
	return float64(n-len(bad)) / float64(n), len(blocks), len(owners), runs
}

// answerRuns counts the blocks an ideal learner would make: maximal runs
// of adjacent quarters of one true region whose clients get the same true
// answers, so that CDN blocks routed alike count as one.
func (tw *testWorld) answerRuns() int {
	n := 0
	var prevEnd netip.Addr
	prevKey := ""
	for _, sub := range tw.w.Subnets() {
		for _, q := range quarters(sub) {
			client := tw.w.ClientIn(q, 0)
			r, _ := tw.w.TrueRegion(client)
			key := strconv.Itoa(r.ID) + tw.truthVector(client)
			if key != prevKey || q.Addr() != prevEnd {
				n++
			}
			a := q.Addr().As4()
			a[3] += 63
			prevKey, prevEnd = key, netip.AddrFrom4(a).Next()
		}
	}
	return n
}

// truePartitions maps every /26 of the world to its block in each CDN's
// true partition.
func (tw *testWorld) truePartitions() []map[netip.Prefix]string {
	var out []map[netip.Prefix]string
	for _, c := range tw.w.CDNs() {
		m := map[netip.Prefix]string{}
		for _, b := range tw.w.Blocks(c.Name) {
			for _, p := range b.Prefixes {
				if !p.Addr().Is4() {
					continue
				}
				for _, q := range split(p, 26) {
					m[q] = c.Name + ":" + strconv.Itoa(b.ID)
				}
			}
		}
		out = append(out, m)
	}
	return out
}

// split cuts the IPv4 prefix p into its pieces of length bits (p itself
// when finer).
func split(p netip.Prefix, bits int) []netip.Prefix {
	if p.Bits() >= bits {
		return []netip.Prefix{p}
	}
	var out []netip.Prefix
	base := binary.BigEndian.Uint32(p.Addr().AsSlice())
	for i := range uint32(1) << (bits - p.Bits()) {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], base+i<<(32-bits))
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(a), bits))
	}
	return out
}

func tempPath(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(t.TempDir(), name)
}

// last returns the last address of p.
func last(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := range b {
		if host := p.Bits() - i*8; host <= 0 {
			b[i] = 0xff
		} else if host < 8 {
			b[i] |= 0xff >> host
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
