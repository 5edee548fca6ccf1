package console

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/httpdns/httpdns/cidrdb"
)

// mapSide is the side of the map in pixels: 256×256 pixels, 2^16 cells along a Hilbert curve, so a
// map of a /L shows each /(L+16) as one pixel (the whole IPv4 space: a /16 a pixel; a /8: a /24).
const mapSide = 256

// background is the colour of addresses no CIDRDB network covers.
var background = color.RGBA{0xf4, 0xf4, 0xf4, 0xff}

// hilbert maps position d along the curve of a side×side square (side a power of two) to x, y: the
// curve keeps neighbouring addresses in neighbouring pixels, so a block is a blob, not a stripe.
func hilbert(side, d int) (x, y int) {
	for s := 1; s < side; s *= 2 {
		rx := 1 & (d / 2)
		ry := 1 & (d ^ rx)
		if ry == 0 {
			if rx == 1 {
				x, y = s-1-x, s-1-y
			}
			x, y = y, x
		}
		x += s * rx
		y += s * ry
		d /= 4
	}
	return x, y
}

// drawMap paints the IPv4 networks of recs inside base (at most a /16) on a Hilbert curve, each
// coloured by its block or by its city.
func drawMap(recs []cidrdb.Record, base netip.Prefix, byCity bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, mapSide, mapSide))
	draw.Draw(img, img.Bounds(), image.NewUniform(background), image.Point{}, draw.Src)
	shift := 32 - (base.Bits() + 16) // host bits of one pixel
	lo := uint64(u32(base.Addr()))
	hi := lo + 1<<(32-base.Bits()) // one past base's last address
	for _, r := range recs {
		p, ok := ipv4(r.Network)
		if !ok {
			continue
		}
		start := uint64(u32(p.Addr()))
		end := start + 1<<(32-p.Bits())
		start, end = max(start, lo), min(end, hi)
		if start >= end {
			continue
		}
		col := colourOf(r, byCity)
		for cell := (start - lo) >> shift; cell <= (end-1-lo)>>shift; cell++ {
			x, y := hilbert(mapSide, int(cell))
			img.SetRGBA(x, y, col)
		}
	}
	return img
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// colourOf gives a block (or a city) a stable colour of its own: a hue from its hash, mid
// saturation and lightness so neighbours differ and none is near the background.
func colourOf(r cidrdb.Record, byCity bool) color.RGBA {
	h := fnv.New32a()
	if byCity {
		h.Write([]byte(r.Country + "/" + r.City))
	} else {
		h.Write(strconv.AppendUint(nil, uint64(r.BlockID), 10))
	}
	sum := h.Sum32()
	return hsl(float64(sum%360), 0.55+float64(sum>>9%20)/100, 0.38+float64(sum>>17%16)/100)
}

// hsl converts a hue (degrees), saturation and lightness (0..1) to RGB.
func hsl(h, s, l float64) color.RGBA {
	c := (1 - abs(2*l-1)) * s
	x := c * (1 - abs(mod2(h/60)-1))
	m := l - c/2
	var r, g, b float64
	switch {
	case h < 60:
		r, g = c, x
	case h < 120:
		r, g = x, c
	case h < 180:
		g, b = c, x
	case h < 240:
		g, b = x, c
	case h < 300:
		r, b = x, c
	default:
		r, b = c, x
	}
	to := func(v float64) uint8 { return uint8((v + m) * 255) }
	return color.RGBA{to(r), to(g), to(b), 0xff}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// mod2 is v modulo 2 for v >= 0.
func mod2(v float64) float64 { return v - 2*float64(int(v/2)) }

// handleMap serves GET /console/api/cidrdb/map.png?prefix=P&color=block|city: the CIDRDB's IPv4
// networks inside P (default 0.0.0.0/0, at most a /16) as a 256×256 PNG on a Hilbert curve.
func (c *Console) handleMap(w http.ResponseWriter, r *http.Request) {
	if c.cfg.CIDRDB == nil || c.cfg.CIDRDBPath == "" {
		writeError(w, http.StatusNotFound, "NotFound", "this node has no CIDRDB")
		return
	}
	q := r.URL.Query()
	base := netip.MustParsePrefix("0.0.0.0/0")
	if s := q.Get("prefix"); s != "" {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() || p.Bits() > 16 {
			writeError(w, http.StatusBadRequest, "InvalidQuery", "prefix must be an IPv4 prefix of at most /16")
			return
		}
		base = p.Masked()
	}
	snap, err := c.blocks.current(c.cfg.CIDRDB(), c.cfg.CIDRDBPath, c.cfg.Now())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "InvalidCIDRDB", "reading the CIDRDB's blocks failed")
		return
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, drawMap(snap.recs, base, q.Get("color") == "city")); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "encoding the map failed")
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(buf.Bytes())
}
