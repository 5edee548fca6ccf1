// Command cdnsim serves the simulated CDN world's ECS-aware authoritative DNS for the zone "test"
// on one UDP and TCP address, for setups that put real software in front of it: the nginx
// example in deploy/nginx and the Unbound recursive layer in deploy/unbound.
//
//	go run ./internal/cdnsim/cmd/cdnsim -listen 127.0.0.1:5300 -dir /tmp/world [-seed 1] [-clients 8]
//	    [-delay 25ms] [-cities 5] [-isps 3] [-subnets 4096] [-v6-allocs 0] [-v6-subnets 0] [-eval]
//
// -delay holds every reply that long (a round trip to a far node); -cities, -isps, -subnets,
// -v6-allocs and -v6-subnets shape the world (cdnsim.Config); -eval starts from the evaluation's
// world (cdnsim.EvalConfig) instead of the default one. The probe bar's world, about 12,000 /24s
// and 90 IPv6 allocations, is -cities 8 -isps 4 -subnets 12288 -v6-allocs 90.
//
// With -dir it writes the world's geo databases (world-city.mmdb, world-isp.mmdb), a whitelist
// putting the CDN names in the subnet tier and the portal names in the global tier (domains.txt),
// and sample client addresses, one from each of -clients /24s spread over the world
// (clients.txt: address, its /24, its true city and ISP), so an httpdns config can point at them.
// It prints the address it serves on and runs until SIGINT or SIGTERM.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

const usage = `Usage: cdnsim [-listen ADDR] [-dir DIR] [-seed N] [-clients N] [-delay D] [-eval]
              [-cities N] [-isps N] [-subnets N] [-v6-allocs N] [-v6-subnets N]

Serves the simulated CDN world's ECS-aware authoritative DNS for the zone "test." on ADDR
(UDP and TCP) until interrupted. With -dir, writes the world's geo databases, a whitelist
(domains.txt) and sample clients (clients.txt) into DIR for an httpdns config.
`

// File names written into -dir besides the geo databases.
const (
	whitelistName = "domains.txt"
	clientsName   = "clients.txt"
)

// errUsage marks a command line that cannot be used.
var errUsage = errors.New("usage error")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "cdnsim: %v\n", err)
		os.Exit(1)
	}
}

// run serves the world until ctx ends. It prints "serving zone test. on ADDR" once both
// listeners answer, so a script can wait for that line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cdnsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:5300", "UDP and TCP `address` to serve on (port 0: any free one)")
	dir := fs.String("dir", "", "`directory` to write the geo databases, whitelist and clients into")
	seed := fs.Uint64("seed", cdnsim.DefaultConfig().Seed, "world `seed`")
	clients := fs.Int("clients", 8, "how many sample `clients` to write into clients.txt, 1..64")
	delay := fs.Duration("delay", 0, "hold every reply this `long` (a round trip to a far node)")
	eval := fs.Bool("eval", false, "start from the evaluation's world (demanding IPv6) instead of the default")
	cities := fs.Int("cities", 0, "cities `N`, 2..8 (0: the world's default)")
	isps := fs.Int("isps", 0, "ISPs `N` per city, 2..4 (0: default)")
	subnets := fs.Int("subnets", 0, "about `N` IPv4 /24s (0: default)")
	v6Allocs := fs.Int("v6-allocs", -1, "`N` IPv6 allocations of /32../40 (0: one /40 a region; -1: the world's default)")
	v6Subnets := fs.Int("v6-subnets", 0, "about `N` client IPv6 /56s (0: default)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 || *clients < 1 || *clients > 64 || *delay < 0 {
		fs.Usage()
		return errUsage
	}
	cfg := cdnsim.DefaultConfig()
	if *eval {
		cfg = cdnsim.EvalConfig()
	}
	cfg.Seed = *seed
	cfg.Cities, cfg.ISPs, cfg.Subnets, cfg.V6Subnets = cmp.Or(*cities, cfg.Cities), cmp.Or(*isps, cfg.ISPs),
		cmp.Or(*subnets, cfg.Subnets), cmp.Or(*v6Subnets, cfg.V6Subnets)
	if *v6Allocs >= 0 {
		cfg.V6Allocs = *v6Allocs
	}
	world, err := cdnsim.NewWorld(cfg)
	if err != nil {
		return fmt.Errorf("building world: %w", err)
	}
	if *dir != "" {
		if err := writeFiles(world, *dir, *clients); err != nil {
			return err
		}
	}
	srv, err := cdnsim.Serve(world, *listen)
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.SetDelay(*delay)
	fmt.Fprintf(stdout, "cdnsim: serving zone %s. on %s (udp+tcp), seed %d\n", cdnsim.Zone, srv.Addr(), *seed)
	if *dir != "" {
		fmt.Fprintf(stdout, "cdnsim: wrote %s, %s, %s, %s into %s\n",
			cdnsim.CityDBName, cdnsim.ISPDBName, whitelistName, clientsName, *dir)
	}
	<-ctx.Done()
	fmt.Fprintf(stdout, "cdnsim: stopping after %d queries\n", srv.Queries())
	return srv.Close()
}

// writeFiles writes the geo databases, the whitelist and n sample clients into dir.
func writeFiles(w *cdnsim.World, dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if _, _, err := w.WriteGeoDBs(dir); err != nil {
		return fmt.Errorf("writing geo databases: %w", err)
	}
	var wl strings.Builder
	wl.WriteString("# written by cdnsim: CDN names get answers per client subnet\n")
	for _, c := range w.CDNs() {
		fmt.Fprintf(&wl, "*.%s.%s subnet\n", c.Name, cdnsim.Zone)
	}
	wl.WriteString("# the same answer for everyone\n*.portal.test global\n")
	if err := os.WriteFile(filepath.Join(dir, whitelistName), []byte(wl.String()), 0o644); err != nil {
		return fmt.Errorf("writing whitelist: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, clientsName), []byte(sampleClients(w, n)), 0o644); err != nil {
		return fmt.Errorf("writing clients: %w", err)
	}
	return nil
}

// sampleClients lists n client addresses from /24s spread evenly over the world, one a line:
// address, /24, city, ISP (the true ones, which the CDNs route by).
func sampleClients(w *cdnsim.World, n int) string {
	subnets := w.Subnets()
	var b strings.Builder
	b.WriteString("# address /24 city isp\n")
	for i := range n {
		s := subnets[i*len(subnets)/n]
		addr := w.ClientIn(s, i)
		r, _ := w.TrueRegion(addr)
		fmt.Fprintf(&b, "%s %s %s %s\n", addr, s, r.City, strings.ReplaceAll(r.ISP, " ", "_"))
	}
	return b.String()
}
