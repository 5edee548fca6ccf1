package console

import (
	"net/netip"
	"testing"

	"github.com/httpdns/httpdns/cidrdb"
)

// TestHilbertNeighbours checks the curve: every cell is visited once and each step moves to an
// adjacent pixel, which is what keeps a block of addresses one blob on the map.
func TestHilbertNeighbours(t *testing.T) {
	t.Parallel()
	seen := map[[2]int]bool{}
	px, py := hilbert(mapSide, 0)
	for d := range mapSide * mapSide {
		x, y := hilbert(mapSide, d)
		if x < 0 || y < 0 || x >= mapSide || y >= mapSide || seen[[2]int{x, y}] {
			t.Fatalf("d=%d -> (%d,%d): outside or visited twice", d, x, y)
		}
		seen[[2]int{x, y}] = true
		if dist := abs(float64(x-px)) + abs(float64(y-py)); d > 0 && dist != 1 {
			t.Fatalf("d=%d -> (%d,%d) is %v from the previous cell", d, x, y, dist)
		}
		px, py = x, y
	}
}

func TestDrawMap(t *testing.T) {
	t.Parallel()
	recs := []cidrdb.Record{
		{Network: netip.MustParsePrefix("20.0.0.0/22"), BlockID: 1, City: "A"},
		{Network: netip.MustParsePrefix("::ffff:20.0.16.0/120"), BlockID: 2, City: "B"}, // IPv4-mapped
		{Network: netip.MustParsePrefix("2001:db8::/32"), BlockID: 3},                   // IPv6: not on the map
	}
	painted := func(base string, byCity bool) map[[2]int]bool {
		img := drawMap(recs, netip.MustParsePrefix(base), byCity)
		out := map[[2]int]bool{}
		for y := range mapSide {
			for x := range mapSide {
				if img.RGBAAt(x, y) != background {
					out[[2]int{x, y}] = true
				}
			}
		}
		return out
	}
	// Zoomed on 20.0.0.0/8 a pixel is a /24: block 1 paints 4, block 2 paints 1.
	if got := painted("20.0.0.0/8", false); len(got) != 5 {
		t.Errorf("20.0.0.0/8: %d pixels painted, want 5", len(got))
	}
	// On the whole space both fall in one /16 pixel, at 20.0/16's place on the curve.
	got := painted("0.0.0.0/0", true)
	x, y := hilbert(mapSide, 20<<8)
	if len(got) != 1 || !got[[2]int{x, y}] {
		t.Errorf("0.0.0.0/0: painted %v, want only (%d,%d)", got, x, y)
	}
	if got := painted("21.0.0.0/8", false); len(got) != 0 {
		t.Errorf("21.0.0.0/8 holds no block, %d pixels painted", len(got))
	}
}
