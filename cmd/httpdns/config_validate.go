package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/httpdns/httpdns/fleet"
)

// Limits of the values a config may hold.
const (
	minCacheBytes = 1 << 20 // cache.max_bytes: below this the cache holds too few answers to work
	maxBatchLimit = 100     // batch_limit: one /resolve must stay a cheap request
)

// accuracy checks the accuracy section.
func (p *problems) accuracy(a AccuracyConfig) {
	if a.Sample < 0 {
		p.add("accuracy.sample", "%d: must not be negative (0 disables the checks)", a.Sample)
	}
	if !(a.MaxPerSecond > 0) || math.IsInf(a.MaxPerSecond, 0) {
		p.add("accuracy.max_per_second", "%v: must be a positive number", a.MaxPerSecond)
	}
	if a.LogSize < 1 || a.LogSize > 100_000 {
		p.add("accuracy.log_size", "%d is not in 1..100000", a.LogSize)
	}
}

// problems gathers every problem validate finds, so the operator sees them all at once.
type problems []*FieldError

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &FieldError{Key: key, Problem: fmt.Sprintf(format, args...)})
}

// validate checks every value; normalize has run.
func (c *Config) validate() problems {
	var p problems
	p.address("listen", c.Listen)
	p.address("admin_listen", c.AdminListen)
	p.tls(c.TLS)
	p.upstreams(c.Upstreams)
	p.required("geoip.city", c.GeoIP.City)
	p.required("geoip.isp", c.GeoIP.ISP)
	p.notNegative("cidrdb_watch", c.CIDRDBWatch)
	if c.UpstreamQPS < 0 {
		p.add("upstream_qps", "must not be negative")
	}
	if c.UpstreamMaxInflight < 1 {
		p.add("upstream_max_inflight", "%d: must be at least 1", c.UpstreamMaxInflight)
	}
	if c.Refresh.PrefetchSiblings < 0 || c.Refresh.PrefetchSiblings > 64 {
		p.add("refresh.prefetch_siblings", "%d is not in 0..64", c.Refresh.PrefetchSiblings)
	}
	if c.Refresh.ActiveMinAsks < 1 {
		p.add("refresh.active_min_asks", "must be at least 1")
	}
	if c.Refresh.TrackKeys < 1 {
		p.add("refresh.track_keys", "must be at least 1")
	}
	p.accuracy(c.Accuracy)
	if c.SplitLogMaxBytes < 0 {
		p.add("split_log_max_bytes", "must not be negative")
	}
	if c.DemandLogMaxBytes < 0 {
		p.add("demand_log_max_bytes", "must not be negative")
	}
	if c.DemandLogPeriod <= 0 {
		p.add("demand_log_period", "must be positive")
	}
	if c.DemandLogMaxPrefixes < 1 {
		p.add("demand_log_max_prefixes", "must be at least 1")
	}
	switch c.DefaultTier {
	case "subnet", "cityisp", "global":
	default:
		p.add("default_tier", "%q is not subnet|cityisp|global", c.DefaultTier)
	}
	if c.Cache.MaxBytes < minCacheBytes {
		p.add("cache.max_bytes", "must be at least 1MiB, not %d", int64(c.Cache.MaxBytes))
	}
	p.notNegative("cache.stale_window", c.Cache.StaleWindow)
	p.notNegative("cache.refresh_grace", c.Cache.RefreshGrace)
	p.ttls(c.TTL)
	for i, s := range c.TrustedProxies {
		if _, err := parseProxy(s); err != nil {
			p.add(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not a CIDR or an address: %v", s, err)
		}
	}
	if c.BatchLimit < 1 || c.BatchLimit > maxBatchLimit {
		p.add("batch_limit", "%d is not in 1..%d", c.BatchLimit, maxBatchLimit)
	}
	if c.MaxConns < 0 {
		p.add("max_conns", "must not be negative (0: no cap), not %d", c.MaxConns)
	}
	p.timeouts(c.Timeouts)
	p.accounts(c.Accounts)
	p.serviceIPs(c.ServiceIPs)
	p.limits(c.Limits)
	p.fleet(c.Fleet)
	p.positive("console.sample_interval", c.Console.SampleInterval)
	if c.Console.Samples < 2 {
		p.add("console.samples", "must be at least 2, not %d", c.Console.Samples)
	}
	if !isLogLevel(c.LogLevel) {
		p.add("log_level", "%q is not debug|info|warn|error", c.LogLevel)
	}
	return p
}

func (p *problems) required(key, value string) {
	if value == "" {
		p.add(key, "required")
	}
}

// address checks a listening address: host:port, the host optional, the port a number.
func (p *problems) address(key, value string) {
	if value == "" {
		p.add(key, "required")
		return
	}
	if _, _, err := splitHostPort(value); err != nil {
		p.add(key, "%q is not host:port: %v", value, err)
	}
}

// upstreams checks the recursive nodes: at least one, each host:port with a host and a non-zero
// port, no node twice (it would take two places on the hash ring).
func (p *problems) upstreams(list []string) {
	if len(list) == 0 {
		p.add("upstreams", "required: at least one host:port")
		return
	}
	p.hostPorts("upstreams", list)
}

// hostPorts checks a list of servers: each host:port with a host and a non-zero port, none twice.
func (p *problems) hostPorts(field string, list []string) {
	seen := make(map[string]int, len(list))
	for i, s := range list {
		key := fmt.Sprintf("%s[%d]", field, i)
		host, port, err := splitHostPort(s)
		switch {
		case err != nil:
			p.add(key, "%q is not host:port: %v", s, err)
		case host == "":
			p.add(key, "%q is not host:port: missing host", s)
		case port == 0:
			p.add(key, "%q is not host:port: port 0", s)
		}
		if j, dup := seen[s]; dup {
			p.add(key, "%q is listed twice: it repeats %s[%d]", s, field, j)
		} else {
			seen[s] = i
		}
	}
}

// splitHostPort splits host:port and checks that the port is a number in 0..65535.
func splitHostPort(s string) (host string, port uint16, err error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", 0, errors.New(ae.Err)
		}
		return "", 0, err
	}
	n, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number in 0..65535", ps)
	}
	return host, uint16(n), nil
}

func (p *problems) notNegative(key string, d Duration) {
	if d < 0 {
		p.add(key, "must not be negative, not %v", d)
	}
}

func (p *problems) positive(key string, d Duration) {
	if d <= 0 {
		p.add(key, "must be positive, not %v", d)
	}
}

func (p *problems) ttls(t TTLConfig) {
	p.notNegative("ttl.min", t.Min)
	p.positive("ttl.max", t.Max)
	if t.Min > t.Max {
		p.add("ttl.min", "must not exceed ttl.max (%v > %v)", t.Min, t.Max)
	}
	p.notNegative("ttl.negative_max", t.NegativeMax)
	p.notNegative("ttl.servfail", t.ServFail)
	p.atMostMaxTTL("ttl.max", t.Max)
	p.atMostMaxTTL("ttl.negative_max", t.NegativeMax)
}

func (p *problems) atMostMaxTTL(key string, d Duration) {
	if time.Duration(d) > maxTTL {
		p.add(key, "must not exceed %v, the largest DNS TTL (RFC 2181 §8)", maxTTL)
	}
}

// maxTTL is the largest TTL a DNS record may carry: 2^31-1 seconds (RFC 2181 §8).
const maxTTL = (1<<31 - 1) * time.Second

func (p *problems) timeouts(t TimeoutsConfig) {
	p.positive("timeouts.request", t.Request)
	p.positive("timeouts.upstream", t.Upstream)
	p.notNegative("timeouts.shutdown", t.Shutdown)
	p.notNegative("timeouts.hedge", t.Hedge)
	p.positive("timeouts.health_check", t.HealthCheck)
	if t.Upstream > t.Request {
		p.add("timeouts.upstream", "must not exceed timeouts.request (%v > %v)", t.Upstream, t.Request)
	}
	p.positive("timeouts.read_header", t.ReadHeader)
	p.positive("timeouts.read", t.Read)
	p.positive("timeouts.write", t.Write)
	p.positive("timeouts.idle", t.Idle)
	// net/http cancels a request still running when the read timeout passes, and cuts its answer
	// when the write timeout does: both must leave a whole resolution its time.
	if t.ReadHeader > 0 && t.Request > 0 && t.Read > 0 && t.Read < t.ReadHeader+t.Request {
		p.add("timeouts.read", "must be at least timeouts.read_header + timeouts.request (%v < %v + %v)",
			t.Read, t.ReadHeader, t.Request)
	}
	if t.Request > 0 && t.Write > 0 && t.Write <= t.Request {
		p.add("timeouts.write", "must exceed timeouts.request (%v <= %v)", t.Write, t.Request)
	}
}

// tls checks the HTTPS listener: all three keys, or none.
func (p *problems) tls(t TLSConfig) {
	if t.Listen == "" {
		if t.Cert != "" || t.Key != "" {
			p.add("tls.listen", "required with tls.cert and tls.key (or leave all three out)")
		}
		return
	}
	p.address("tls.listen", t.Listen)
	p.required("tls.cert", t.Cert)
	p.required("tls.key", t.Key)
}

func (p *problems) limits(l LimitsConfig) {
	if l.ClientQPS < 0 || math.IsNaN(l.ClientQPS) || math.IsInf(l.ClientQPS, 0) {
		p.add("limits.client_qps", "must be a number >= 0 (0: no limit), not %v", l.ClientQPS)
	}
	switch {
	case l.ClientBurst < 0:
		p.add("limits.client_burst", "must not be negative, not %d", l.ClientBurst)
	case l.ClientBurst > 0 && l.ClientQPS == 0:
		p.add("limits.client_burst", "has no effect without limits.client_qps")
	}
	if l.MaxClients < 1 {
		p.add("limits.max_clients", "must be at least 1, not %d", l.MaxClients)
	}
	switch l.IPParam {
	case "any", "trusted", "off":
	default:
		p.add("limits.ip_param", "%q is not any|trusted|off", l.IPParam)
	}
}

// parseProxy parses a trusted proxy: a CIDR (host bits are cleared) or an address (a /32 or
// /128). IPv4-mapped IPv6 addresses become IPv4, as connections from them are seen.
func parseProxy(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("an address with a zone")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("want 10.0.0.0/8, 192.0.2.1 or 2001:db8::/32")
	}
	return pfx.Masked(), nil
}

// fleet checks the fleet section: each Redis a host:port with a host and a port, none twice, a
// non-empty key prefix and a positive sync interval.
func (p *problems) fleet(f FleetConfig) {
	p.hostPorts("fleet.redis", f.Redis)
	if f.KeyPrefix == "" {
		p.add("fleet.key_prefix", "must not be empty")
	}
	if f.NodeID != "" {
		if err := fleet.CheckNodeID(f.NodeID); err != nil {
			p.add("fleet.node_id", "%v", err)
		}
	}
	p.positive("fleet.sync_interval", f.SyncInterval)
	if f.L2Timeout <= 0 || f.L2Timeout > Duration(time.Second) {
		p.add("fleet.l2_timeout", "must be in (0, 1s], not %v", f.L2Timeout)
	}
}
