package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/miekg/dns"
)

const demoUsage = `Usage: httpdns demo [-listen ADDR] [-admin-listen ADDR] [-nodes N] [-dir DIR] [-force]

Runs httpdns against a simulated CDN world on localhost: N ECS-aware authoritative DNS servers
(the "recursive nodes"), geo databases that are wrong about a few subnets, and a whitelist that
puts the CDN names in the subnet tier. It prints curl commands showing that clients of different
subnets get different edges, asks them itself, and serves until interrupted. The generated
config, databases and whitelist stay in DIR (default: a new temporary directory), so
"httpdns serve -config DIR/httpdns.yaml" works while the demo's DNS servers run. The admin API
and the web console (http://ADMIN-LISTEN/console/) take the admin token demo-token.

Every file is written before the service listens: once /healthz or /readyz answers, DIR is
complete (scripts wait for that, e.g. curl --retry-connrefused). On a DIR used before, demo keeps
what an operator changes there: the CIDRDB (cidrdb.mmdb, perhaps learnt by probe) and the
whitelist (domains.txt, perhaps changed by uploads), and says so; it rewrites the config (the DNS
nodes' ports change), the geo databases and probe-domains.txt. It refuses a DIR whose
httpdns.yaml it did not write. -force rewrites everything.
`

// demoAdminToken is the demo's admin bearer token; a real deployment sets its own.
const demoAdminToken = "demo-token"

// runDemo runs the service against a simulated CDN.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", demoUsage, stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "public API `address`")
	admin := fs.String("admin-listen", "127.0.0.1:8081", "admin API `address`")
	nodes := fs.Int("nodes", 3, "number of simulated DNS `nodes`")
	dir := fs.String("dir", "", "`directory` for the generated files (default: a temporary one)")
	force := fs.Bool("force", false, "rewrite the CIDRDB and whitelist kept from an earlier run, and a config demo did not write")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *nodes < 1 || *nodes > 16 {
		return usageErrorf(fs, "-nodes must be 1..16")
	}
	world, err := cdnsim.NewWorld(cdnsim.DefaultConfig())
	if err != nil {
		return err
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "httpdns-demo-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("demo directory: %w", err)
	}
	if err := checkDemoDir(*dir, *force); err != nil {
		return err
	}
	var upstreams []string
	for range *nodes {
		s, err := cdnsim.Serve(world, "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("starting simulated DNS node: %w", err)
		}
		defer s.Close()
		upstreams = append(upstreams, s.Addr())
	}
	path, kept, err := writeDemoFiles(world, *dir, *listen, *admin, upstreams, *force)
	if err != nil {
		return err
	}
	for _, k := range kept {
		fmt.Fprintf(stdout, "httpdns demo: kept %s from an earlier run (-force rewrites it)\n", k)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return serve(ctx, cfg, logger, func(pub, adm net.Addr) {
		showDemo(ctx, stdout, world, path, pub.String(), adm.String())
	})
}

// demoConfigHeader is the first line of the config demo writes; a config without it is not demo's.
const demoConfigHeader = "# written by httpdns demo\n"

// checkDemoDir refuses, unless force, a directory whose httpdns.yaml demo did not write: it
// belongs to a real deployment, whose config and databases demo would overwrite.
func checkDemoDir(dir string, force bool) error {
	path := filepath.Join(dir, "httpdns.yaml")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist), force:
		return nil
	case err != nil:
		return fmt.Errorf("demo directory: %w", err)
	case !strings.HasPrefix(string(b), demoConfigHeader):
		return fmt.Errorf("demo directory %s holds a config httpdns demo did not write (%s); "+
			"choose another -dir, or pass -force to overwrite its files", dir, path)
	}
	return nil
}

// writeDemoFiles writes the world's geo databases, a whitelist, a starting CIDRDB, the probe
// names and a config into dir, and returns the config's path. Unless force, a CIDRDB or whitelist
// already in dir is kept (and returned in kept): it may be what probe learnt or uploads changed.
func writeDemoFiles(w *cdnsim.World, dir, listen, admin string, upstreams []string, force bool) (path string, kept []string, err error) {
	keep := func(name string) bool {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); force || err != nil {
			return false
		}
		kept = append(kept, p)
		return true
	}
	if _, _, err := w.WriteGeoDBs(dir); err != nil {
		return "", nil, err
	}
	if !keep("domains.txt") {
		var wl strings.Builder
		wl.WriteString("# CDN names: answers depend on the client's subnet\n")
		for _, c := range w.CDNs() {
			fmt.Fprintf(&wl, "*.%s.%s subnet\n", c.Name, cdnsim.Zone)
		}
		wl.WriteString("# the same answer everywhere\n*.portal.test global\n")
		if err := os.WriteFile(filepath.Join(dir, "domains.txt"), []byte(wl.String()), 0o644); err != nil {
			return "", nil, err
		}
	}
	if !keep("cidrdb.mmdb") {
		if err := writeDemoCIDRDB(dir); err != nil {
			return "", nil, err
		}
	}
	if err := writeProbeDomains(w, dir); err != nil {
		return "", nil, err
	}
	cfg := fmt.Sprintf(demoConfigHeader+`listen: %q
admin_listen: %q
admin_token: %q
upstreams: [%s]
geoip:
  city: %s
  isp: %s
cidrdb: cidrdb.mmdb
domains: domains.txt
default_tier: cityisp
`, listen, admin, demoAdminToken, quoteList(upstreams), cdnsim.CityDBName, cdnsim.ISPDBName)
	path = filepath.Join(dir, "httpdns.yaml")
	return path, kept, os.WriteFile(path, []byte(cfg), 0o644)
}

// writeDemoCIDRDB writes the starting library (the geo databases at /24, what "httpdns cidrdb build"
// makes) as cidrdb.mmdb, through a temporary file so a running server never reads half of it.
func writeDemoCIDRDB(dir string) error {
	recs, err := cidrdb.BuildFromGeo(filepath.Join(dir, cdnsim.CityDBName), filepath.Join(dir, cdnsim.ISPDBName), cidrdb.BuildOptions{})
	if err != nil {
		return err
	}
	return cidrdb.WriteFile(filepath.Join(dir, "cidrdb.mmdb"), recs)
}

// writeProbeDomains writes the world's CDN names as probe-domains.txt, so the demo's directory is
// ready for "httpdns probe".
func writeProbeDomains(w *cdnsim.World, dir string) error {
	var names strings.Builder
	names.WriteString("# the simulated world's CDN names, for httpdns probe -domains\n")
	for _, d := range w.Domains() {
		if d.Kind == cdnsim.KindHonest || d.Kind == cdnsim.KindEcho {
			names.WriteString(d.Name + "\n")
		}
	}
	return os.WriteFile(filepath.Join(dir, "probe-domains.txt"), []byte(names.String()), 0o644)
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// demoClients finds two clients in different subnets whose CDN edges for name differ.
func demoClients(w *cdnsim.World, name string) (netip.Addr, netip.Addr) {
	subnets := w.Subnets()
	a := w.ClientIn(subnets[0], 10)
	ta := w.Truth(name, dns.TypeA, a)
	for _, s := range subnets[1:] {
		b := w.ClientIn(s, 10)
		if !slices.Equal(w.Truth(name, dns.TypeA, b), ta) {
			return a, b
		}
	}
	return a, w.ClientIn(subnets[len(subnets)-1], 10)
}

// showDemo prints what to try, then asks the two clients' questions itself.
func showDemo(ctx context.Context, out io.Writer, w *cdnsim.World, cfgPath, pub, adm string) {
	const name = "img.cdn-a.test"
	a, b := demoClients(w, name)
	base := "http://" + pub
	cmds := []string{
		fmt.Sprintf("curl '%s/d?host=%s&ip=%s'", base, name, a),
		fmt.Sprintf("curl '%s/d?host=%s&ip=%s'", base, name, b),
	}
	fmt.Fprintf(out, "httpdns demo: serving on %s (admin %s), config %s\n\n", base, "http://"+adm, cfgPath)
	fmt.Fprintf(out, "Web console: http://%s/console/ (sign in with the admin token %s)\n\n", adm, demoAdminToken)
	fmt.Fprintf(out, "Two clients in different subnets ask for %s:\n", name)
	for _, c := range cmds {
		fmt.Fprintf(out, "  %s\n", c)
	}
	fmt.Fprintf(out, "\nMore to try:\n")
	fmt.Fprintf(out, "  curl '%s/d?host=www.shop.test&ip=%s&query=4,6'\n", base, a)
	fmt.Fprintf(out, "  curl '%s/resolve?host=img.cdn-a.test,video.cdn-b.test,www.portal.test&ip=%s'\n", base, b)
	fmt.Fprintf(out, "  go run ./cmd/httpdns resolve -server %s -ip %s img.cdn-a.test api.cdn-a.test\n", base, a)
	fmt.Fprintf(out, "  curl -H 'Authorization: Bearer %s' http://%s/admin/domains\n", demoAdminToken, adm)
	fmt.Fprintf(out, "  curl http://%s/metrics | grep ^httpdns_\n", adm)
	dir := filepath.Dir(cfgPath)
	fmt.Fprintf(out, "\nLearn the subnet library from the simulated CDNs, then roll it out:\n")
	// The report beside the CIDRDB is the one the console's CIDRDB tab shows (console.probe_report).
	fmt.Fprintf(out, "  go run ./cmd/httpdns probe -config %s -domains %s -out %s -hysteresis=off -report %s\n", cfgPath,
		filepath.Join(dir, "probe-domains.txt"), filepath.Join(dir, "learnt.mmdb"), filepath.Join(dir, "probe-report.json"))
	fmt.Fprintf(out, "  go run ./cmd/httpdns cidrdb diff %s %s\n", filepath.Join(dir, "cidrdb.mmdb"), filepath.Join(dir, "learnt.mmdb"))
	fmt.Fprintf(out, "  mv %s %s\n", filepath.Join(dir, "learnt.mmdb"), filepath.Join(dir, "cidrdb.mmdb"))
	fmt.Fprintf(out, "  curl -X POST -H 'Authorization: Bearer %s' http://%s/admin/cidrdb/reload\n\n", demoAdminToken, adm)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, ip := range []netip.Addr{a, b} {
		u := fmt.Sprintf("%s/d?host=%s&ip=%s", base, name, ip)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			fmt.Fprintf(out, "asking %s: %v\n", u, err)
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		fmt.Fprintf(out, "client %-15s -> %s", ip, body)
		if !strings.HasSuffix(string(body), "\n") {
			fmt.Fprintln(out)
		}
	}
	fmt.Fprintf(out, "\nServing until interrupted (Ctrl-C).\n")
}
