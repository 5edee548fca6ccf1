package client

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Defaults for the zero values of Config.
const (
	// DefaultTimeout bounds one request to one server (Android's SDK uses 2 s).
	DefaultTimeout = 2 * time.Second
	// DefaultPenalty is how long a server that failed is tried only after the others.
	DefaultPenalty = 30 * time.Second
	// DefaultSignatureTTL is how far ahead a signed request's expiry t lies (the Alibaba Go SDK's).
	DefaultSignatureTTL = 30 * time.Second
	// DefaultMaxEntries bounds the names the cache holds.
	DefaultMaxEntries = 1024
	// DefaultMaxStale is how long after its TTL an answer is still returned while it is refreshed.
	DefaultMaxStale = time.Hour
	// DefaultMaxTTL is the longest a server's answer is cached, whatever TTL it gives: the
	// server's own default upper clamp (docs/design.md §5).
	DefaultMaxTTL = time.Hour
	// DefaultLocalDNSTTL is how long an answer of the local resolver is cached (net.Resolver gives
	// no TTL).
	DefaultLocalDNSTTL = 30 * time.Second
	// DefaultFallbackDelay is the Happy Eyeballs connection attempt delay (RFC 8305 §5: 250 ms).
	DefaultFallbackDelay = 250 * time.Millisecond
	// DefaultFailedAddrTTL is how long an address that failed to connect is tried after the others.
	DefaultFailedAddrTTL = time.Minute
	// DefaultRefreshTimeout bounds a background refresh, all servers and the fallback together.
	DefaultRefreshTimeout = 10 * time.Second
)

// API is the HTTP interface the client speaks to its servers.
type API string

// The APIs a client speaks.
const (
	// APIHTTPDNS is httpdns's own GET /d and GET /resolve (the default). Batch limit 10.
	APIHTTPDNS API = "httpdns"
	// APIAlibabaV1 is the Alibaba Cloud HTTPDNS v1 door: /{account}/d and /{account}/resolve, or
	// with a secret the signed /{account}/sign_d and /{account}/sign_resolve. Batch limit 5.
	APIAlibabaV1 API = "alibaba_v1"
)

// Config configures a Client. Only Servers is required (and AccountID for APIAlibabaV1).
type Config struct {
	// Servers are the base URLs of the HTTPDNS servers ("https://httpdns.example.com",
	// "http://203.0.113.10:8053"), tried in order; a server that fails is tried after the others
	// for Penalty. Required.
	Servers []string
	// API is the interface spoken: APIHTTPDNS (default) or APIAlibabaV1.
	API API
	// AccountID is the account of the Alibaba door, put in the path. Required for APIAlibabaV1.
	AccountID string
	// Secret signs Alibaba v1 requests (sign_d, sign_resolve: s = MD5(host-secret-t), t the
	// expiry); empty: unsigned requests.
	Secret string
	// SignatureTTL is how far ahead a signature expires; default 30s.
	SignatureTTL time.Duration
	// Families are the address families asked for: "4", "6" or "4,6" (default).
	Families string
	// HTTPClient sends the requests to the servers; nil: a client of its own with a cloned
	// http.DefaultTransport (it must not be a Transport of this Client: its dials would resolve
	// through the client).
	HTTPClient *http.Client
	// Timeout bounds one request to one server; default 2s.
	Timeout time.Duration
	// Penalty is how long a failed server is tried only after the others; default 30s.
	Penalty time.Duration
	// BatchLimit is the most hosts one batch request names; default the API's limit (10 for
	// APIHTTPDNS, 5 for APIAlibabaV1). A server that answers TooManyHosts "at most N" lowers it.
	BatchLimit int

	// MaxEntries bounds the names cached; default 1024. When full the entry expiring first goes.
	MaxEntries int
	// MaxStale is how long after its TTL an answer is returned at once (source Stale) while it is
	// refreshed in the background; default 1h; negative: expired answers are never returned.
	MaxStale time.Duration
	// MinTTL is the least time an answer is cached (a server's ttl of 0 would mean no cache);
	// default 10s.
	MinTTL time.Duration
	// MaxTTL is the longest a server's answer is cached, whatever TTL it gives (a broken or
	// hostile server's TTL of years would pin its addresses for years); default 1h, and never
	// under MinTTL.
	MaxTTL time.Duration
	// RefreshTimeout bounds a background refresh; default 10s.
	RefreshTimeout time.Duration

	// LocalDNS answers when every server fails, a server refuses the request (a 4xx other than
	// 408 and 429, not asked of the next server) or says a name has no addresses; nil:
	// net.DefaultResolver.
	LocalDNS *net.Resolver
	// DisableLocalDNS turns the local resolver fallback off: such lookups fail instead.
	DisableLocalDNS bool
	// LocalDNSTTL is how long a local resolver's answer is cached; default 30s.
	LocalDNSTTL time.Duration

	// Dialer makes the connections of DialContext; nil: a net.Dialer with a 10s timeout and
	// keep-alives.
	Dialer *net.Dialer
	// FallbackDelay is the Happy Eyeballs delay between connection attempts (RFC 8305 §5);
	// default 250ms.
	FallbackDelay time.Duration
	// FailedAddrTTL is how long an address that failed to connect is tried after the others;
	// default 1m.
	FailedAddrTTL time.Duration
	// TLSConfig is the TLS configuration of Transport (e.g. RootCAs); nil: the system's. Its
	// ServerName is best left empty: the transport then verifies the URL's host name.
	TLSConfig *tls.Config

	// CacheFile, if set, is where the cache is saved (by Save and Close, written atomically) and
	// loaded from by New, so a restarted process starts warm.
	CacheFile string
	// Hooks receive the client's events, for metrics and logs; nil fields are skipped.
	Hooks Hooks
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Client resolves names through HTTPDNS servers and connects to the answers. It is safe for
// concurrent use. Close it to stop its background refreshes.
type Client struct {
	cfg     Config // defaults set: its Now, HTTPClient, LocalDNS and Dialer are never nil
	servers []*server
	limit   atomic.Int64 // the batch limit, lowered by TooManyHosts

	cache    *cache
	flight   singleflight.Group
	failed   *failedAddrs
	clientIP atomic.Pointer[netip.Addr] // the address the servers last said we have
	// seen4 and seen6 are the last IPv4 and IPv6 addresses reported: a dual-stack client reaches
	// its servers over either family, and only a change within one family is a move.
	seen4, seen6 atomic.Pointer[netip.Addr]
	// moved is when (unix nanoseconds) a reported client address last counted as a network change.
	moved atomic.Int64

	mu         sync.Mutex
	preresolve map[string]struct{} // names PreResolve warmed, re-resolved on a network change
	transports []*http.Transport   // made by Transport, their idle connections closed on a change
	closed     bool

	ctx    context.Context // ends with Close; background work runs on it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ErrNoAddresses is returned (wrapped) for a name neither the servers nor the local resolver
// have an address for.
var ErrNoAddresses = errors.New("no addresses")

// ErrInvalidHost is returned (wrapped) for a name that is not a host name: labels of letters,
// digits, hyphens and underscores, 1–63 bytes each, 253 in all. Nothing is asked for it.
var ErrInvalidHost = errors.New("invalid host name")

// ErrClosed is returned by lookups and dials after Close.
var ErrClosed = errors.New("client closed")

// New validates cfg, reporting every problem at once, and returns a Client; with CacheFile it
// loads the saved cache (a missing file is not an error, a corrupt one is ignored and counted by
// Hooks.CacheLoad).
func New(cfg Config) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("configuring client: %w", err)
	}
	cfg.setDefaults()
	c := &Client{cfg: cfg, cache: newCache(cfg.MaxEntries), failed: newFailedAddrs(),
		preresolve: map[string]struct{}{}}
	for _, s := range cfg.Servers {
		c.servers = append(c.servers, &server{base: strings.TrimSuffix(s, "/")})
	}
	c.limit.Store(int64(cfg.BatchLimit))
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if cfg.CacheFile != "" {
		c.load()
	}
	return c, nil
}

func (cfg *Config) check() error {
	var errs []error
	if len(cfg.Servers) == 0 {
		errs = append(errs, errors.New("no servers"))
	}
	for _, s := range cfg.Servers {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("server %q: want an http:// or https:// URL", s))
		}
	}
	switch cfg.API {
	case "", APIHTTPDNS:
	case APIAlibabaV1:
		if cfg.AccountID == "" || strings.ContainsAny(cfg.AccountID, "/?#") {
			errs = append(errs, errors.New("alibaba_v1 needs an account id without / ? #"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown API %q: want %q or %q", cfg.API, APIHTTPDNS, APIAlibabaV1))
	}
	switch cfg.Families {
	case "", "4", "6", "4,6":
	default:
		errs = append(errs, fmt.Errorf("families %q: want 4, 6 or 4,6", cfg.Families))
	}
	if cfg.BatchLimit < 0 || cfg.MaxEntries < 0 {
		errs = append(errs, errors.New("negative BatchLimit or MaxEntries"))
	}
	return errors.Join(errs...)
}

func (cfg *Config) setDefaults() {
	cfg.API = cmp.Or(cfg.API, APIHTTPDNS)
	cfg.Families = cmp.Or(cfg.Families, "4,6")
	cfg.SignatureTTL = cmp.Or(cfg.SignatureTTL, DefaultSignatureTTL)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.Penalty = cmp.Or(cfg.Penalty, DefaultPenalty)
	if cfg.BatchLimit == 0 {
		cfg.BatchLimit = 10
		if cfg.API == APIAlibabaV1 {
			cfg.BatchLimit = 5
		}
	}
	cfg.MaxEntries = cmp.Or(cfg.MaxEntries, DefaultMaxEntries)
	cfg.MaxStale = cmp.Or(cfg.MaxStale, DefaultMaxStale)
	cfg.MinTTL = cmp.Or(cfg.MinTTL, 10*time.Second)
	cfg.MaxTTL = max(cmp.Or(cfg.MaxTTL, DefaultMaxTTL), cfg.MinTTL)
	cfg.RefreshTimeout = cmp.Or(cfg.RefreshTimeout, DefaultRefreshTimeout)
	cfg.LocalDNSTTL = cmp.Or(cfg.LocalDNSTTL, DefaultLocalDNSTTL)
	cfg.FallbackDelay = cmp.Or(cfg.FallbackDelay, DefaultFallbackDelay)
	cfg.FailedAddrTTL = cmp.Or(cfg.FailedAddrTTL, DefaultFailedAddrTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LocalDNS == nil {
		cfg.LocalDNS = net.DefaultResolver
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	}
	if cfg.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		cfg.HTTPClient = &http.Client{Transport: t}
	}
}

// Close stops background refreshes and waits for them, saves the cache to CacheFile if set, and
// closes the idle connections of the transports it made. Lookups after Close fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	transports := c.transports
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	for _, t := range transports {
		t.CloseIdleConnections()
	}
	if c.cfg.CacheFile != "" {
		return c.Save()
	}
	return nil
}

// goBackground runs f on a goroutine Close waits for, unless the client is closed; it reports
// whether it did.
func (c *Client) goBackground(f func(ctx context.Context)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Go(func() { f(c.ctx) })
	return true
}

// ClientIP returns the address the servers last reported for this client (their client_ip), and
// whether one was reported.
func (c *Client) ClientIP() (netip.Addr, bool) {
	p := c.clientIP.Load()
	if p == nil {
		return netip.Addr{}, false
	}
	return *p, true
}
