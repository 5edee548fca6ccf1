package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/httpdns/httpdns/cidrdb"
)

const cidrdbUsage = `Usage: httpdns cidrdb build -config FILE -out FILE [-bits4 24] [-bits6 56] [-ipv6 geo|units|off]
                            [-max-blocks N]
       httpdns cidrdb inspect [-top 20] FILE [ADDR...]
       httpdns cidrdb diff [-json] OLD NEW
       httpdns cidrdb publish FILE -config FILE
       httpdns cidrdb help [build|inspect|diff|publish]

Builds, inspects and compares CIDRDB files: the adaptive subnet library whose blocks "httpdns
serve" caches subnet-tier answers by (config key cidrdb) and "httpdns probe" learns.

  build    writes the starting CIDRDB from the config's geo databases (geoip.city, geoip.isp):
           IPv4 cut into /24 units, each its own block; IPv6 as runs of addresses located alike,
           no finer than /56. Run "httpdns cidrdb build -h" for the rules.
  inspect  prints a CIDRDB's metadata, its blocks by country, city and ISP, its networks by
           prefix length, and the block of each ADDR.
  diff     prints how NEW's blocks relate to OLD's: unchanged, moved, merged, split, reshaped,
           added, removed, with examples.
  publish  rolls a CIDRDB out to every node of the config's fleet (Redis), live, no restart.

CIDRDB schema

A CIDRDB is a MaxMind DB file (https://maxmind.github.io/MaxMind-DB/) that any mmdb writer can
produce. Its metadata has database_type "HTTPDNS-CIDRDB" and a non-empty description; its tree
should be IPv6 (ip_version 6, IPv4 networks in ::/96 as usual: an IPv4-only tree serves IPv4
clients only). It holds at least one network, and each network's record is a map with these
keys:

  key       type    meaning
  block_id  uint32  the block; non-zero; several networks may share one
  country   string  ISO 3166-1 alpha-2 code, "" when unknown
  city      string  English city name, "" when unknown
  isp       string  ISP name, "" when unknown
  asn       uint32  autonomous system number, 0 when unknown

All networks of one block_id are of one address family and carry the same country, city, isp
and asn. Keys beyond these are ignored. A block that no prefix covers (10.1.1.0/24 +
10.1.2.0/24) is several networks with one block_id; the block's key in the cache is its lowest
network. An address outside every network sits in its own /24 (IPv6: /56) block, located by
the geo databases.
`

// runCIDRDB dispatches `httpdns cidrdb SUBCOMMAND`.
func runCIDRDB(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cidrdb", cidrdbUsage, stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), cidrdbUsage) }
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErrorf(fs, "no subcommand: want build, inspect, diff or publish")
	}
	sub, rest := fs.Arg(0), fs.Args()[1:]
	switch sub {
	case "build":
		return runCIDRDBBuild(rest, stdout, stderr)
	case "inspect":
		return runCIDRDBInspect(rest, stdout, stderr)
	case "diff":
		return runCIDRDBDiff(rest, stdout, stderr)
	case "publish":
		return runCIDRDBPublish(rest, stdout, stderr)
	case "help":
		if len(rest) > 0 {
			return runCIDRDB([]string{rest[0], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, cidrdbUsage)
		return nil
	}
	return usageErrorf(fs, "unknown subcommand %q: want build, inspect, diff or publish", sub)
}

const cidrdbPublishUsage = `Usage: httpdns cidrdb publish FILE -config FILE

Rolls the CIDRDB FILE out to the fleet named by the config's fleet section: checks FILE exactly as
"httpdns serve" loads it (with the config's geoip.city and geoip.isp), then puts it into Redis as
the next version of the shared document "cidrdb", written by cli@HOST, and prints that version.
Every node checks it again, writes it over its own cidrdb file atomically and swaps it in live; a
node that finds it bad keeps the one it serves (httpdns_fleet_syncs_total{kind="cidrdb",
result="rejected"} and an error line in its log). A file over 64 MiB is refused. A publish goes
on top of whatever version Redis holds, a refused one too; if another publish gets in between,
it fails and changes nothing. "httpdns probe -publish" does the same with the CIDRDB it learnt.
`

// runCIDRDBPublish publishes a CIDRDB file to the fleet.
func runCIDRDBPublish(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cidrdb publish", cidrdbPublishUsage, stderr)
	cfgPath := fs.String("config", "", "a node's YAML config `file`, valid for serve, with a fleet section and the geo databases; required")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *cfgPath == "":
		return usageErrorf(fs, "-config is required")
	case len(files) != 1:
		return usageErrorf(fs, "want one FILE to publish, got %d", len(files))
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	return publishCIDRDB(context.Background(), cfg, files[0], stdout)
}

// parseInterspersed parses args into fs letting flags and arguments come in any order ("FILE
// -config C" as well as "-config C FILE"), and returns the arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var out []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return out, nil
		}
		out = append(out, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

const cidrdbBuildUsage = `Usage: httpdns cidrdb build -config FILE -out FILE [-bits4 24] [-bits6 56] [-ipv6 geo|units|off]
                            [-max-blocks N]

Writes the starting CIDRDB (schema: "httpdns cidrdb -h") from the config's geo databases
(geoip.city: a City-schema mmdb; geoip.isp: an ISP- or ASN-schema mmdb), the library that
"httpdns probe" then refines. The two databases are laid over each other, so every piece of
address space has one country and city and one ISP and ASN; space that either covers becomes
blocks, space neither covers does not, and a piece with nothing known is still a block.

IPv4 is cut into /bits4 units (default /24, the ECS source prefix), each its own block. A unit
takes its country and city from the lowest of its addresses the City database covers, and its
ISP and ASN from the lowest the ISP database covers: geo detail finer than a unit is left to the
prober.

IPv6 (-ipv6):
  geo    each run of adjacent addresses located alike is one block, no finer than /bits6
         (default /56). The default: geo databases cover far too much IPv6 space to cut it into
         /56s, and a wide block cannot misroute (the service caches by the ECS scope a CDN
         answers with when it is narrower than the block, and logs the split for the prober).
  units  cut into /bits6 units like IPv4, for small IPv6 footprints or a coarse -bits6.
  off    no IPv6 blocks: IPv6 clients sit in their default /56 blocks.
IPv6 inside ::/8 and the IPv4 aliases 2001::/32 (Teredo) and 2002::/16 (6to4) are left out.

Block ids are 1..n in address order. A build that would make more than -max-blocks blocks fails
before it writes anything. On success it prints one line: the blocks and networks written.
`

// runCIDRDBBuild builds the starting CIDRDB from the geo databases.
func runCIDRDBBuild(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cidrdb build", cidrdbBuildUsage, stderr)
	cfgPath := fs.String("config", "", "YAML config `file` naming geoip.city and geoip.isp; required")
	out := fs.String("out", "", "`path` of the CIDRDB to write (atomically); required")
	var opts cidrdb.BuildOptions
	fs.IntVar(&opts.Bits4, "bits4", cidrdb.DefaultBitsIPv4, "prefix `length` of IPv4 units, 8..32")
	fs.IntVar(&opts.Bits6, "bits6", cidrdb.DefaultBitsIPv6, "prefix `length` of IPv6 units or finest IPv6 blocks, 16..128")
	fs.TextVar(&opts.IPv6, "ipv6", cidrdb.IPv6Geo, "IPv6 `mode`: geo, units or off")
	fs.IntVar(&opts.MaxBlocks, "max-blocks", cidrdb.DefaultMaxBlocks, "fail rather than make more than this many `blocks`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *cfgPath == "" || *out == "":
		return usageErrorf(fs, "-config and -out are required")
	case fs.NArg() > 0:
		return usageErrorf(fs, "unexpected argument %q", fs.Arg(0))
	case opts.Bits4 < 8 || opts.Bits4 > 32:
		return usageErrorf(fs, "-bits4 %d is not in 8..32", opts.Bits4)
	case opts.Bits6 < cidrdb.MinBitsIPv6 || opts.Bits6 > 128:
		return usageErrorf(fs, "-bits6 %d is not in %d..128", opts.Bits6, cidrdb.MinBitsIPv6)
	case opts.MaxBlocks < 1:
		return usageErrorf(fs, "-max-blocks must be positive")
	}
	cfg, err := LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	recs, err := cidrdb.BuildFromGeo(cfg.GeoIP.City, cfg.GeoIP.ISP, opts)
	if errors.Is(err, cidrdb.ErrTooManyBlocks) {
		return fmt.Errorf("%w; try -ipv6 geo or off, a shorter -bits4 or -bits6, or a larger -max-blocks", err)
	}
	if err != nil {
		return err
	}
	if err := cidrdb.WriteFile(*out, recs); err != nil {
		return err
	}
	s := cidrdb.Summarize(recs)
	fmt.Fprintf(stdout, "wrote %s: %d blocks (IPv4 %d, IPv6 %d) in %d networks from %s and %s\n",
		*out, s.Blocks, s.BlocksIPv4, s.BlocksIPv6, s.Networks, cfg.GeoIP.City, cfg.GeoIP.ISP)
	return nil
}

const cidrdbInspectUsage = `Usage: httpdns cidrdb inspect [-top 20] FILE [ADDR...]

Validates the CIDRDB FILE as "httpdns serve" would, then prints its metadata (database_type,
description, build time, tree), its networks and blocks, the blocks by country, city and ISP
(the -top most of each), the networks by prefix length, and for each ADDR the block it sits in:
BLOCK_ID, NETWORK (the network holding ADDR), BLOCK (the block's key: its lowest network),
COUNTRY, CITY, ISP and ASN. An ADDR outside the CIDRDB shows "-" as its block_id and network
and the /24 (IPv6: /56) block the service would use instead.
`

// runCIDRDBInspect prints what a CIDRDB holds and where addresses sit in it.
func runCIDRDBInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cidrdb inspect", cidrdbInspectUsage, stderr)
	top := fs.Int("top", 20, "how many countries, cities and ISPs to list (0: all)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErrorf(fs, "no FILE to inspect")
	}
	path := fs.Arg(0)
	var addrs []netip.Addr
	for _, s := range fs.Args()[1:] {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return usageErrorf(fs, "ADDR %q is not an IP address", s)
		}
		addrs = append(addrs, a)
	}
	db, err := cidrdb.OpenCIDRDB(path)
	if err != nil {
		return err
	}
	defer db.Close()
	recs, err := cidrdb.ReadFile(path)
	if err != nil {
		return err
	}
	if err := printMetadata(stdout, path, db.Metadata()); err != nil {
		return err
	}
	if err := cidrdb.Summarize(recs).WriteText(stdout, *top); err != nil {
		return err
	}
	if len(addrs) == 0 {
		return nil
	}
	fmt.Fprintln(stdout)
	return printLocations(stdout, db, addrs)
}

// printMetadata writes a CIDRDB's metadata, one field a line.
func printMetadata(w io.Writer, path string, m cidrdb.Metadata) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "file:\t%s\n", path)
	fmt.Fprintf(tw, "database_type:\t%s\n", m.DatabaseType)
	fmt.Fprintf(tw, "description:\t%s\n", m.Description)
	fmt.Fprintf(tw, "build_time:\t%s\n", m.BuildTime.Format(time.RFC3339))
	fmt.Fprintf(tw, "tree:\tIPv%d, %d nodes\n", m.IPVersion, m.NodeCount)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("printing metadata: %w", err)
	}
	return nil
}

// printLocations writes a table of where each address sits.
func printLocations(w io.Writer, db *cidrdb.DB, addrs []netip.Addr) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDR\tBLOCK_ID\tNETWORK\tBLOCK\tCOUNTRY\tCITY\tISP\tASN")
	for _, a := range addrs {
		loc := db.Locate(a)
		id, network, asn := "-", "-", "-"
		if loc.BlockID != 0 {
			id, network = fmt.Sprint(loc.BlockID), loc.Network.String()
		}
		if loc.ASN != 0 {
			asn = fmt.Sprint(loc.ASN)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a, id, network, loc.Block,
			orDash(loc.Country), orDash(loc.City), orDash(loc.ISP), asn)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("printing locations: %w", err)
	}
	return nil
}

const cidrdbDiffUsage = `Usage: httpdns cidrdb diff [-json] OLD NEW

Compares two CIDRDB files by address coverage and prints how each of NEW's blocks relates to
OLD's blocks:

  unchanged  the networks of one old block, located alike (its block_id may differ)
  moved      the networks of one old block, located elsewhere (country, city, ISP or ASN)
  merged     two or more old blocks whole (and maybe addresses OLD did not cover)
  split      a part of one old block that now is several blocks, or less than it was
  reshaped   anything else, e.g. parts of two old blocks
  added      addresses no old block covered
  removed    (old blocks) no new block overlaps them

then the ranges only one of them covers, and a few examples of each change. -json prints the
same report as JSON.
`

// runCIDRDBDiff compares two CIDRDBs.
func runCIDRDBDiff(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cidrdb diff", cidrdbDiffUsage, stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageErrorf(fs, "want OLD and NEW, got %d arguments", fs.NArg())
	}
	old, err := cidrdb.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	cur, err := cidrdb.ReadFile(fs.Arg(1))
	if err != nil {
		return err
	}
	rep := cidrdb.Diff(old, cur)
	if !*asJSON {
		return rep.WriteText(stdout)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("printing diff: %w", err)
	}
	return nil
}
