package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the YAML file of `httpdns serve` (docs/design.md §10). Only Listen, Upstreams, GeoIP.City
// and GeoIP.ISP must be given; ParseConfig fills every other field with its default, resolves
// file paths against the config file's directory, and validates the whole.
type Config struct {
	// Listen is the public API's address (/d, /resolve), host:port. Required, e.g. ":8080".
	Listen string `yaml:"listen"`
	// TLS is the optional HTTPS listener serving every public endpoint over HTTP/2 and HTTP/1.1.
	TLS TLSConfig `yaml:"tls"`
	// AdminListen is the admin API's address (/admin/*, /metrics, /healthz), host:port.
	// Default "127.0.0.1:8081".
	AdminListen string `yaml:"admin_listen"`
	// AdminToken is the bearer token /admin/* requires. Default "": /admin/* is disabled, while
	// /metrics and /healthz are still served.
	AdminToken string `yaml:"admin_token"`
	// Upstreams are the recursive nodes asked with ECS, each host:port with the port given
	// (IPv6 as "[::1]:53"). Required, at least one, no duplicates.
	Upstreams []string `yaml:"upstreams"`
	// GeoIP names the MaxMind databases that locate clients. Both are required.
	GeoIP GeoIPConfig `yaml:"geoip"`
	// CIDRDB is the path of the learnt adaptive-subnet library (an HTTPDNS-CIDRDB mmdb).
	// Default "": none.
	CIDRDB string `yaml:"cidrdb"`
	// CIDRDBWatch is how often the CIDRDB and geo database files are checked for changes (size or
	// modification time); a change reloads them. 0 disables watching (SIGHUP and
	// POST /admin/cidrdb/reload still reload). Default 10s.
	CIDRDBWatch Duration `yaml:"cidrdb_watch"`
	// Domains is the path of the domain whitelist (`domain tier [refresh]` lines). Default
	// "domains.txt" beside the config file; the first upload creates it, and a file missing at
	// start is an empty whitelist.
	Domains string `yaml:"domains"`
	// SplitLog is the JSONL file the resolver appends its split signals to (answers whose ECS scope
	// was narrower than the client's block), for the next probe round. Default "splits.jsonl" beside
	// the config file.
	SplitLog string `yaml:"split_log"`
	// SplitLogMaxBytes bounds the split log: past it the file is renamed to FILE.1 (replacing the
	// previous one) and a new one started. 0 disables the split log. Default 64MiB.
	SplitLogMaxBytes ByteSize `yaml:"split_log_max_bytes"`
	// DemandLog is the JSONL file the resolver appends the IPv6 /56s that asked to (one line per /56
	// a period), so `probe` probes IPv6 where clients are. Default "demand.jsonl" beside the config.
	DemandLog string `yaml:"demand_log"`
	// DemandLogMaxBytes bounds the demand log like split_log_max_bytes (FILE.1 keeps the previous
	// one). 0 disables the demand log. Default 64MiB.
	DemandLogMaxBytes ByteSize `yaml:"demand_log_max_bytes"`
	// DemandLogPeriod is how often a /56 already written is written again. Default 1h.
	DemandLogPeriod Duration `yaml:"demand_log_period"`
	// DemandLogMaxPrefixes bounds the /56s remembered (and written) a period; past it new ones are
	// dropped and counted. Default 1000000 (about 60MiB of memory at most).
	DemandLogMaxPrefixes int `yaml:"demand_log_max_prefixes"`
	// DefaultTier is the cache tier of names the whitelist doesn't list: "subnet", "cityisp" or
	// "global". Default "cityisp".
	DefaultTier string `yaml:"default_tier"`
	// Cache sizes the answer cache and its serve-stale behaviour.
	Cache CacheConfig `yaml:"cache"`
	// TTL clamps the TTLs of answers.
	TTL TTLConfig `yaml:"ttl"`
	// UpstreamQPS is the budget of queries a second sent upstream, shared by client misses, active
	// refresh, passive refresh and sibling prefetch in that priority: a client's miss always goes,
	// background work only while enough budget is left. Default 0: unlimited.
	UpstreamQPS float64 `yaml:"upstream_qps"`
	// UpstreamMaxInflight caps the upstream queries running at once. Past it a client's miss waits
	// up to 100ms for a slot, then gets 503 UpstreamBusy (or a stale answer); background refreshes
	// are skipped. Default 1024.
	UpstreamMaxInflight int `yaml:"upstream_max_inflight"`
	// Refresh tunes active refresh and sibling prefetch.
	Refresh RefreshConfig `yaml:"refresh"`
	// Accuracy is the shadow sample that measures misrouted answers in production (docs/design.md §7.6).
	Accuracy AccuracyConfig `yaml:"accuracy"`
	// TrustedProxies are the CIDRs or addresses whose X-Forwarded-For header is believed.
	// Default none: the client is always the connection's address.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TrustedProxyPrefixes is TrustedProxies parsed, an address becoming a /32 or /128 and
	// IPv4-mapped IPv6 addresses unmapped. ParseConfig fills it; it is not read from the file.
	TrustedProxyPrefixes []netip.Prefix `yaml:"-"`
	// BatchLimit is the most names one /resolve may ask for, 1..100. Default 10.
	BatchLimit int `yaml:"batch_limit"`
	// MaxConns caps the connections each listener (listen and admin_listen, each its own cap) holds
	// open at once; past it new connections wait in the kernel's accept queue until one closes.
	// Idle keep-alive connections count until timeouts.idle closes them. 0: no cap. Default 10000.
	MaxConns int `yaml:"max_conns"`
	// Timeouts bound requests, upstream attempts and shutdown.
	Timeouts TimeoutsConfig `yaml:"timeouts"`
	// Limits bound what one client may ask of the public listeners, and who may choose the client
	// a request is answered for.
	Limits LimitsConfig `yaml:"limits"`
	// LogLevel is "debug", "info", "warn" or "error". Default "info".
	LogLevel string `yaml:"log_level"`
	// Accounts are the accounts of the provider doors (Alibaba /{id}/..., DNSPod), with their
	// secrets (config_accounts.go). Default none.
	Accounts []AccountConfig `yaml:"accounts"`
	// ServiceIPs are the addresses /{id}/ss advertises to Alibaba SDKs, each "IP" or "IP:port".
	// Default: the listen address when it names one address and port, else the address each
	// client reached the service at.
	ServiceIPs []string `yaml:"service_ips"`
	// AccountsFile is where PUT /admin/accounts keeps the accounts (JSON, mode 0600). When it
	// exists at start it holds the latest upload and is used instead of accounts. Default
	// "accounts.json" beside the config file.
	AccountsFile string `yaml:"accounts_file"`
	// Fleet shares the whitelist, the accounts and the CIDRDB with the other nodes through Redis
	// (docs/design.md §9.4). Its redis list empty (the default): this node stands alone.
	Fleet FleetConfig `yaml:"fleet"`
	// Console tunes the web console at /console/ on admin_listen (package console).
	Console ConsoleConfig `yaml:"console"`
}

// ConsoleConfig is the `console` section: the overview's sampling and the files the CIDRDB page reads.
type ConsoleConfig struct {
	// SampleInterval is how often the overview samples the metrics registry. Default 10s.
	SampleInterval Duration `yaml:"sample_interval"`
	// Samples is how many samples the overview keeps. Default 360 (an hour at 10s).
	Samples int `yaml:"samples"`
	// ProbeReport is the JSON report of the last `httpdns probe -report FILE` the CIDRDB page shows.
	// Default "": probe-report.json beside the cidrdb file.
	ProbeReport string `yaml:"probe_report"`
}

// FleetConfig is the `fleet` section: the Redis the nodes of a fleet agree through.
type FleetConfig struct {
	// Redis lists the Redis addresses, host:port: one is a single Redis, several a Redis Cluster.
	// Default none: no fleet, the node keeps its state to itself.
	Redis []string `yaml:"redis"`
	// PasswordFile holds the Redis password (one line). Default "": none.
	PasswordFile string `yaml:"password_file"`
	// KeyPrefix starts every key the fleet keeps in Redis. Default "httpdns:".
	KeyPrefix string `yaml:"key_prefix"`
	// NodeID names this node in the documents it writes. Default "": the hostname and the listen port.
	NodeID string `yaml:"node_id"`
	// SyncInterval is how often a node re-reads the shared documents even without a notification,
	// so one it missed is picked up. Default 30s.
	SyncInterval Duration `yaml:"sync_interval"`
	// L2Cache turns on the shared answer cache (docs/design.md §9.5): a miss reads the answer another
	// node fetched from Redis before asking upstream. Default true.
	L2Cache bool `yaml:"l2_cache"`
	// L2Timeout bounds one read of the shared answer cache; past it the request goes upstream. Default
	// 5ms; at most 1s.
	L2Timeout Duration `yaml:"l2_timeout"`
}

// Enabled reports whether the section names a Redis: the node is one of a fleet.
func (f *FleetConfig) Enabled() bool { return len(f.Redis) > 0 }

// GeoIPConfig names the MaxMind databases (paths relative to the config file's directory).
type GeoIPConfig struct {
	// City is a City-schema mmdb (GeoIP2-City or GeoLite2-City). Required.
	City string `yaml:"city"`
	// ISP is an ISP-schema (GeoIP2-ISP) or ASN-schema (GeoLite2-ASN) mmdb. Required.
	ISP string `yaml:"isp"`
}

// CacheConfig sizes the answer cache.
type CacheConfig struct {
	// MaxBytes is the cache's budget in bytes, at least 1MiB; the file may say 268435456 or
	// "256MiB", "1GiB", "512MB". Default 256MiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// StaleWindow is how long past its TTL an answer is kept to be served when every upstream
	// fails (RFC 8767). Default 24h.
	StaleWindow Duration `yaml:"stale_window"`
	// RefreshGrace is how long past its TTL an answer is still served (with a small TTL) while it
	// is refreshed in the background; older is a miss. Default 30s.
	RefreshGrace Duration `yaml:"refresh_grace"`
}

// TTLConfig clamps the TTLs the service caches and returns.
type TTLConfig struct {
	// Min is the smallest TTL of a positive answer. Default 10s.
	Min Duration `yaml:"min"`
	// Max is the largest TTL of a positive answer. Default 1h.
	Max Duration `yaml:"max"`
	// NegativeMax caps how long NXDOMAIN and NODATA are cached (RFC 2308). Default 5m.
	NegativeMax Duration `yaml:"negative_max"`
	// ServFail is how long a SERVFAIL is cached. Default 5s.
	ServFail Duration `yaml:"servfail"`
}

// RefreshConfig tunes the background work that keeps hot answers warm.
type RefreshConfig struct {
	// PrefetchSiblings is how many sibling blocks (same country, city and ISP, nearest by address)
	// are refreshed with a subnet-tier answer fetched upstream, when clients asked for them at least
	// ActiveMinAsks times since their last fetch and they are past their refresh point; each at most
	// once per TTL. 0 disables prefetch. Default 4.
	PrefetchSiblings int `yaml:"prefetch_siblings"`
	// ActiveMinAsks is how often a key of an `active` whitelist rule must have been asked since its
	// last fetch to be refreshed ahead of expiry (at 80–90% of its TTL), and a sibling block to be
	// prefetched. Default 2.
	ActiveMinAsks int `yaml:"active_min_asks"`
	// TrackKeys bounds the recently asked keys remembered for active refresh and prefetch.
	// Default 100000.
	TrackKeys int `yaml:"track_keys"`
}

// AccuracyConfig is the `accuracy` section: a sample of answered requests is asked upstream again in
// the background with the client's own /24 (IPv6 /56) as ECS, bypassing the cache, at the lowest
// priority of the upstream budget, and compared with what was served (README, Accuracy checks).
type AccuracyConfig struct {
	// Sample is 1 in how many answered requests is checked. 0 disables the checks. Default 1000.
	Sample int `yaml:"sample"`
	// MaxPerSecond caps the checks started a second; sampled requests over it are skipped (and
	// counted). Default 20.
	MaxPerSecond float64 `yaml:"max_per_second"`
	// LogSize is how many of the latest mismatches GET /admin/accuracy shows, 1..100000. Default 256.
	LogSize int `yaml:"log_size"`
}

// TimeoutsConfig bounds the time spent on requests, on client connections and on shutdown. The
// connection timeouts (ReadHeader, Read, Write, Idle) apply to both listeners.
type TimeoutsConfig struct {
	// ReadHeader bounds reading a request's line and headers. Default 5s.
	ReadHeader Duration `yaml:"read_header"`
	// Read bounds reading a whole request, body included, from its first byte: a request whose
	// announced body never arrives is cut at it. It also bounds the request's whole life (net/http
	// cancels a request still running when it passes), so it must be at least read_header +
	// request. Default 10s.
	Read Duration `yaml:"read"`
	// Write bounds the time from the end of a request's headers to the end of its response,
	// resolution included: it must exceed request. Default 10s.
	Write Duration `yaml:"write"`
	// Idle is how long a keep-alive connection may wait for its next request. Default 2m.
	Idle Duration `yaml:"idle"`
	// Request is the deadline of one whole HTTP request, every upstream attempt included.
	// Default 3s.
	Request Duration `yaml:"request"`
	// Upstream is the deadline of one query to one recursive node; at most Request. Default 800ms.
	Upstream Duration `yaml:"upstream"`
	// Shutdown is how long in-flight requests may drain on SIGTERM or SIGINT. Default 10s.
	Shutdown Duration `yaml:"shutdown"`
	// Hedge is the least wait before the same question is also sent to the next node when the
	// chosen one hasn't answered by its recent p95 latency. 0 disables hedging. Default 2ms.
	Hedge Duration `yaml:"hedge"`
	// HealthCheck is how often ejected upstream nodes (and nodes that answered too late) are
	// checked; three good checks in a row readmit a node. Default 2s.
	HealthCheck Duration `yaml:"health_check"`
}

// TLSConfig is the HTTPS listener: the public endpoints (every door, /healthz, /readyz) with the
// public listener's timeouts, connection cap (its own max_conns) and rate limit (one budget per
// client across both). The certificate and key are read at start and again on SIGHUP.
type TLSConfig struct {
	// Listen is its address, host:port. Default "": no TLS listener.
	Listen string `yaml:"listen"`
	// Cert is the PEM certificate chain (leaf first). Required with Listen.
	Cert string `yaml:"cert"`
	// Key is the PEM private key of Cert. Required with Listen.
	Key string `yaml:"key"`
}

// LimitsConfig is the per-client rate limit and the ip_param policy (api.Config has the details).
type LimitsConfig struct {
	// ClientQPS is the requests a second one client may send to the public listeners (listen and
	// tls.listen; /healthz and /readyz aside); past it they get 429 with Retry-After. A client is
	// the connection's address, or a trusted proxy's X-Forwarded-For client, never ip=; IPv6
	// clients are counted per /64. 0: no limit. Default 0.
	ClientQPS float64 `yaml:"client_qps"`
	// ClientBurst is how many requests a client may send at once; 0: one second's worth
	// (client_qps rounded up). Default 0.
	ClientBurst int `yaml:"client_burst"`
	// MaxClients bounds the client addresses the rate limit remembers (about 64 bytes each); a
	// table filled faster than buckets refill forgets the oldest. Default 262144.
	MaxClients int `yaml:"max_clients"`
	// IPParam is who may choose the client a request is answered for (ip=, cip=,
	// edns_client_subnet, the ECS option): "any", "trusted" (only requests whose connection comes
	// from trusted_proxies; others' choice is ignored) or "off" (nobody). Default "any".
	IPParam string `yaml:"ip_param"`
}

// defaultConfig returns a Config holding every default; the file's keys are decoded over it.
func defaultConfig() *Config {
	return &Config{
		AdminListen:          "127.0.0.1:8081",
		CIDRDBWatch:          Duration(10 * time.Second),
		SplitLogMaxBytes:     64 << 20,
		DemandLogMaxBytes:    64 << 20,
		DemandLogPeriod:      Duration(time.Hour),
		DemandLogMaxPrefixes: 1_000_000,
		DefaultTier:          "cityisp",
		Cache: CacheConfig{
			MaxBytes:     256 << 20,
			StaleWindow:  Duration(24 * time.Hour),
			RefreshGrace: Duration(30 * time.Second),
		},
		TTL: TTLConfig{
			Min:         Duration(10 * time.Second),
			Max:         Duration(time.Hour),
			NegativeMax: Duration(5 * time.Minute),
			ServFail:    Duration(5 * time.Second),
		},
		BatchLimit: 10,
		MaxConns:   10000,
		Refresh:    RefreshConfig{PrefetchSiblings: 4, ActiveMinAsks: 2, TrackKeys: 100_000},
		Accuracy:   AccuracyConfig{Sample: 1000, MaxPerSecond: 20, LogSize: 256},
		Timeouts: TimeoutsConfig{
			Request:     Duration(3 * time.Second),
			Upstream:    Duration(800 * time.Millisecond),
			Shutdown:    Duration(10 * time.Second),
			Hedge:       Duration(2 * time.Millisecond),
			HealthCheck: Duration(2 * time.Second),
			ReadHeader:  Duration(5 * time.Second),
			Read:        Duration(10 * time.Second),
			Write:       Duration(10 * time.Second),
			Idle:        Duration(2 * time.Minute),
		},
		LogLevel: "info",
		Limits:   LimitsConfig{MaxClients: 1 << 18, IPParam: "any"},
		// 1024 keeps over a thousand misses a second going even when every upstream attempt runs
		// into its 800ms timeout, and stays far below the file-descriptor limit (upstream package).
		UpstreamMaxInflight: 1024,
		Fleet:               FleetConfig{KeyPrefix: "httpdns:", SyncInterval: Duration(30 * time.Second), L2Cache: true, L2Timeout: Duration(5 * time.Millisecond)},
		Console:             ConsoleConfig{SampleInterval: Duration(10 * time.Second), Samples: 360},
	}
}

// LoadConfig reads and parses the config file at path; relative file paths inside it are
// resolved against its directory.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("loading config %s: %w", path, err)
	}
	cfg, err := ParseConfig(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("loading config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses a YAML config. Unknown keys are errors; relative paths of files are
// resolved against dir (the config file's directory). Every problem found is reported, each a
// *FieldError naming its key, joined with errors.Join.
func ParseConfig(data []byte, dir string) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	keys := indexKeys(&doc)
	cfg := defaultConfig()
	// A value of the wrong type leaves its default and decoding goes on, so the values that
	// did decode are still validated and every problem is reported at once. A problem with no
	// key (a repeated key, a document that is not a mapping) stops the decoding of a whole
	// mapping, and validating what is left would report keys the file has as missing.
	var te *yaml.TypeError
	if err := decodeStrict(data, cfg); err != nil && !errors.As(err, &te) {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	problems := keys.explain(te)
	if problems.covers("") {
		return nil, keys.locate(problems)
	}
	cfg.normalize(dir)
	for _, p := range cfg.validate() {
		if !problems.covers(p.Key) {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return nil, keys.locate(problems)
	}
	return cfg, nil
}

// decodeStrict decodes the single YAML document in data over cfg, rejecting unknown keys.
func decodeStrict(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file: the required keys are reported as missing
		}
		return err
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return errors.New("the file holds more than one YAML document")
	}
	return nil
}

// normalize resolves file paths against dir, fills the whitelist's default path, makes empty
// lists nil and parses the trusted proxies that are valid (validate reports the others).
func (c *Config) normalize(dir string) {
	c.GeoIP.City = resolvePath(dir, c.GeoIP.City)
	c.GeoIP.ISP = resolvePath(dir, c.GeoIP.ISP)
	c.CIDRDB = resolvePath(dir, c.CIDRDB)
	c.TLS.Cert = resolvePath(dir, c.TLS.Cert)
	c.TLS.Key = resolvePath(dir, c.TLS.Key)
	c.Console.ProbeReport = resolvePath(dir, c.Console.ProbeReport)
	if c.Domains == "" {
		c.Domains = "domains.txt"
	}
	c.Domains = resolvePath(dir, c.Domains)
	if c.SplitLog == "" {
		c.SplitLog = "splits.jsonl"
	}
	c.SplitLog = resolvePath(dir, c.SplitLog)
	if c.DemandLog == "" {
		c.DemandLog = "demand.jsonl"
	}
	c.DemandLog = resolvePath(dir, c.DemandLog)
	if len(c.Upstreams) == 0 {
		c.Upstreams = nil
	}
	if len(c.TrustedProxies) == 0 {
		c.TrustedProxies = nil
	}
	c.normalizeAccounts(dir)
	c.Fleet.PasswordFile = resolvePath(dir, c.Fleet.PasswordFile)
	if len(c.Fleet.Redis) == 0 {
		c.Fleet.Redis = nil
	}
	c.TrustedProxyPrefixes = nil
	for _, s := range c.TrustedProxies {
		if p, err := parseProxy(s); err == nil {
			c.TrustedProxyPrefixes = append(c.TrustedProxyPrefixes, p)
		}
	}
}

// resolvePath joins a relative, non-empty path p to dir.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// Level returns LogLevel as a slog.Level; validation has made sure it is one of the four names.
func (c *Config) Level() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// isLogLevel reports whether s is an accepted log_level, in any case.
func isLogLevel(s string) bool {
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}
