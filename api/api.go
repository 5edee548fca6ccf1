package api

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/httpdns/httpdns/resolver"
)

// Defaults for the zero values of Config.
const (
	// DefaultBatchLimit is the most hosts one /resolve request may name when Config.BatchLimit is 0.
	DefaultBatchLimit = 10
	// DefaultTimeout is the deadline of one request's resolution when Config.Timeout is 0.
	DefaultTimeout = 3 * time.Second
	// MaxWhitelistBytes is the largest whitelist body PUT /admin/domains accepts (1 MiB).
	MaxWhitelistBytes = 1 << 20
)

// Resolver is what the api needs from the resolver. Resolve must return promptly once ctx is done:
// the api relies on it to keep the request deadline.
type Resolver interface {
	Resolve(ctx context.Context, q resolver.Query) (resolver.Answer, error)
}

// Whitelist is the domain-priority whitelist the admin API reads and replaces.
type Whitelist interface {
	// Text returns the current whitelist text.
	Text() []byte
	// Replace validates text whole, persists it atomically and applies it. A bad line yields an error
	// wrapping *resolver.ParseError, and the old whitelist stays.
	Replace(text []byte) error
}

// Reloader reloads the CIDRDB (and the geo databases) from disk. An error means the new files were
// rejected and the old ones keep serving.
type Reloader interface {
	Reload() error
}

// Config configures an API. Only Resolver is required.
type Config struct {
	// Resolver answers the queries. Required.
	Resolver Resolver
	// Whitelist backs GET|PUT /admin/domains; nil: that endpoint answers 404 NotFound.
	Whitelist Whitelist
	// CIDRDB backs POST /admin/cidrdb/reload; nil: that endpoint answers 404 NotFound.
	CIDRDB Reloader
	// AdminToken is the bearer token for /admin/*; empty: /admin/* answers 403 AdminDisabled.
	AdminToken string
	// TrustedProxies are the peers whose X-Forwarded-For is believed; default none.
	TrustedProxies []netip.Prefix
	// BatchLimit is the most hosts one /resolve request may name; default 10.
	BatchLimit int
	// ClientQPS is the requests a second each client address (IPv6: each /64) may send to the public
	// handler, /healthz and /readyz aside; past it they get 429 TooManyRequests with Retry-After.
	// The client is the sender (the peer, or a trusted proxy's X-Forwarded-For client), never ip=.
	// Default 0: no limit.
	ClientQPS float64
	// ClientBurst is how many requests a client may send at once above ClientQPS; default 0: one
	// second's worth (ClientQPS rounded up, at least 1).
	ClientBurst int
	// RateLimitClients bounds the client addresses the rate limit remembers; default 262144.
	RateLimitClients int
	// IPParam is who may choose the client a request is answered for (ip= and the doors'
	// equivalents): IPParamAny (the default, also for ""), IPParamTrusted or IPParamOff.
	IPParam IPParam
	// Now is the service's clock (the rate limit's, the signatures' expiry); nil: time.Now.
	Now func() time.Time
	// Timeout is the deadline of one request's resolution; default 3s.
	Timeout time.Duration
	// Registerer receives the HTTP metrics; nil: no metrics are registered.
	Registerer prometheus.Registerer
	// Gatherer is served on the admin handler's /metrics; nil: /metrics answers 404 NotFound.
	Gatherer prometheus.Gatherer
	// DNSPod finds the DNSPod accounts of the encrypted and token modes of /d?dn=; nil: only the
	// plain mode is served.
	DNSPod DNSPodAccounts
	// ReadyChecks are what /readyz requires, checked in order on every call; none: /readyz answers
	// 200 as /healthz does.
	ReadyChecks []ReadyCheck
	// Logger receives internal errors and recovered panics; nil: discard.
	Logger *slog.Logger
	// Accounts are the accounts of the provider doors (/{id}/d, ...); validated whole by
	// CheckAccounts. Default none: those doors answer 403 InvalidAccount.
	Accounts []Account
	// ServiceIPs are the addresses /{id}/ss advertises, each "addr" or "addr:port" ("[v6]:port");
	// default none: the address the client reached us at (its Host header).
	ServiceIPs []string
	// AccountsFile is where PUT /admin/accounts persists the accounts (JSON, mode 0600; read back
	// with LoadAccounts); empty: uploads last until the process ends.
	AccountsFile string
	// Fleet backs GET /admin/fleet; nil (no fleet): that endpoint answers 404 NotFound saying so.
	Fleet FleetView
	// FleetNode is this node's id in the fleet, named first by GET /admin/fleet.
	FleetNode string
	// Console serves the web console on the admin handler: /console/ without a token, /console/api/
	// with it (console.go); nil: those paths answer 404 NotFound.
	Console http.Handler
}

// API serves the public and the admin HTTP interfaces. It is safe for concurrent use.
type API struct {
	resolver      Resolver
	whitelist     Whitelist
	cidrdb        Reloader
	tokenHash     *[sha256.Size]byte // nil when the admin API is disabled
	trusted       []netip.Prefix
	batchLimit    int
	timeout       time.Duration
	gatherer      prometheus.Gatherer
	ready         []ReadyCheck
	dnspod        DNSPodAccounts
	dnspodCiphers dnspodCiphers // the DNSPod accounts' ciphers, made once
	log           *slog.Logger
	metrics       *metrics
	forwarder     Forwarder // nil: the DNS-message doors answer types other than A/AAAA SERVFAIL
	accounts      *accounts

	fleet     FleetView // nil without a fleet
	fleetNode string
	console   http.Handler // nil without a console

	accountsMu   sync.Mutex // serialises PUT /admin/accounts: persist, then swap
	accountsFile string

	serviceIPs4, serviceIPs6 []string

	limiter      *limiter // nil: no rate limit
	ipParam      IPParam
	now          func() time.Time
	refuse       http.Handler // answers a request over its rate
	limitMetrics *limitMetrics

	bufs   sync.Pool // *[]byte response buffers
	ctJSON []string  // the Content-Type header value, shared by every JSON response
	ctText []string

	public http.Handler
	admin  http.Handler
}

// New validates cfg, registers the metrics and builds the handlers. It reports every problem in cfg
// at once, and registers nothing unless cfg is valid.
func New(cfg Config) (*API, error) {
	trusted, errs := cfg.check()
	if len(errs) > 0 {
		return nil, fmt.Errorf("configuring api: %w", errors.Join(errs...))
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("configuring api: %w", err)
	}
	lim := newLimiter(cfg.ClientQPS, cfg.ClientBurst, cmp.Or(cfg.RateLimitClients, DefaultRateLimitClients))
	lm, err := newLimitMetrics(cfg.Registerer, lim)
	if err != nil {
		return nil, fmt.Errorf("configuring api: %w", err)
	}
	a := &API{
		resolver:   cfg.Resolver,
		whitelist:  cfg.Whitelist,
		cidrdb:     cfg.CIDRDB,
		trusted:    trusted,
		batchLimit: cmp.Or(cfg.BatchLimit, DefaultBatchLimit),
		timeout:    cmp.Or(cfg.Timeout, DefaultTimeout),
		gatherer:   cfg.Gatherer,
		ready:      cfg.ReadyChecks,
		dnspod:     cfg.DNSPod,
		log:        cfg.Logger,
		metrics:    m,
		ctJSON:     []string{"application/json"},
		ctText:     []string{"text/plain; charset=utf-8"},
	}
	a.accounts = newAccounts(cfg.Accounts, m.accounts)
	a.accountsFile = cfg.AccountsFile
	a.fleet, a.fleetNode = cfg.Fleet, cfg.FleetNode
	a.console = cfg.Console
	if a.dnspod == nil {
		a.dnspod = a.accounts // the DNSPod door's keys are the accounts' unless Config.DNSPod says otherwise
	}
	a.serviceIPs4, a.serviceIPs6 = splitServiceIPs(cfg.ServiceIPs)
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if cfg.AdminToken != "" {
		sum := sha256.Sum256([]byte(cfg.AdminToken))
		a.tokenHash = &sum
	}
	a.forwarder, _ = cfg.Resolver.(Forwarder)
	a.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	a.limiter, a.ipParam, a.limitMetrics, a.now = lim, cmp.Or(cfg.IPParam, IPParamAny), lm, cfg.Now
	if a.now == nil {
		a.now = time.Now
	}
	a.refuse = a.route(epOther, false, a.refuseLimited)
	a.public = a.guard(a.limit(a.publicMux()))
	a.admin = a.guard(a.adminMux())
	return a, nil
}

// check returns cfg's problems, and the trusted proxies as they are matched.
func (cfg Config) check() ([]netip.Prefix, []error) {
	var errs []error
	if cfg.Resolver == nil {
		errs = append(errs, errors.New("Resolver is required"))
	}
	if cfg.BatchLimit < 0 {
		errs = append(errs, fmt.Errorf("BatchLimit %d is negative", cfg.BatchLimit))
	}
	if cfg.ClientQPS < 0 || math.IsNaN(cfg.ClientQPS) || math.IsInf(cfg.ClientQPS, 0) {
		errs = append(errs, fmt.Errorf("ClientQPS %v is not a finite number >= 0", cfg.ClientQPS))
	}
	if cfg.ClientBurst < 0 || cfg.RateLimitClients < 0 {
		errs = append(errs, fmt.Errorf("ClientBurst %d and RateLimitClients %d must not be negative", cfg.ClientBurst, cfg.RateLimitClients))
	}
	if cfg.IPParam != "" && !cfg.IPParam.valid() {
		errs = append(errs, fmt.Errorf("IPParam %q is not any, trusted or off", cfg.IPParam))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("Timeout %v is negative", cfg.Timeout))
	}
	for i, c := range cfg.ReadyChecks {
		if c.Name == "" || c.Check == nil {
			errs = append(errs, fmt.Errorf("ReadyChecks[%d]: a check needs a Name and a Check", i))
		}
	}
	if err := CheckAccounts(cfg.Accounts); err != nil {
		errs = append(errs, fmt.Errorf("Accounts: %w", err))
	}
	trusted := make([]netip.Prefix, 0, len(cfg.TrustedProxies))
	for _, p := range cfg.TrustedProxies {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("TrustedProxies: invalid prefix %v", p))
			continue
		}
		trusted = append(trusted, unmapPrefix(p))
	}
	return trusted, errs
}

// Public returns the handler of the client-facing interface: GET /d, GET /resolve, GET /healthz and
// GET /readyz.
func (a *API) Public() http.Handler { return a.public }

// Admin returns the handler of the operators' interface: GET|PUT /admin/domains,
// POST /admin/cidrdb/reload, GET /admin/fleet, GET /admin/accuracy, GET /metrics, GET /healthz,
// GET /readyz, and the web console at /console/ when Config.Console is set.
func (a *API) Admin() http.Handler { return a.admin }

func (a *API) publicMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/d", a.dispatchD())
	mux.Handle("/conf", a.route(epDNSPodConf, false, a.handleDNSPodConf, http.MethodGet, http.MethodHead))
	mux.Handle("/resolve", a.dispatchResolve()) // name=: Google JSON; host=: the batch API
	mux.Handle("/dns-query", a.dispatchDNSQuery())
	mux.Handle("/healthz", a.route(epHealthz, false, a.handleHealthz, http.MethodGet, http.MethodHead))
	mux.Handle("/readyz", a.route(epReadyz, false, a.handleReadyz, http.MethodGet, http.MethodHead))
	mux.Handle("/{account}/{op}", a.aliV1Mux()) // Alibaba v1: alibaba_v1.go
	mux.Handle("/v2/d", a.route(epAliV2, false, a.handleAliV2, http.MethodGet, http.MethodHead))
	mux.Handle("/", a.route(epOther, false, a.handleNotFound))
	return mux
}

func (a *API) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	if a.whitelist != nil {
		domains := a.route(epAdminDomains, true, a.handleDomains, http.MethodGet, http.MethodHead, http.MethodPut)
		mux.Handle("/admin/domains", domains)
	}
	mux.Handle("/admin/accounts", a.route(epAdminAccounts, true, a.handleAccounts, http.MethodGet, http.MethodHead, http.MethodPut))
	mux.Handle("/admin/fleet", a.route(epAdminFleet, true, a.handleFleet, http.MethodGet, http.MethodHead))
	mux.Handle("/admin/accuracy", a.route(epAdminAccuracy, true, a.handleAccuracy, http.MethodGet, http.MethodHead))
	if a.cidrdb != nil {
		mux.Handle("/admin/cidrdb/reload", a.route(epAdminCIDRDB, true, a.handleCIDRDBReload, http.MethodPost))
	}
	if a.gatherer != nil {
		mux.Handle("/metrics", a.route(epMetrics, false, a.metricsHandler(), http.MethodGet, http.MethodHead))
	}
	a.mountConsole(mux)
	mux.Handle("/healthz", a.route(epHealthz, false, a.handleHealthz, http.MethodGet, http.MethodHead))
	mux.Handle("/readyz", a.route(epReadyz, false, a.handleReadyz, http.MethodGet, http.MethodHead))
	mux.Handle("/", a.route(epOther, false, a.handleNotFound))
	return mux
}

// unmapPrefix writes an IPv4-mapped prefix as IPv4 (::ffff:10.0.0.0/104 as 10.0.0.0/8), because peers'
// addresses are unmapped before they are matched.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked()
}
