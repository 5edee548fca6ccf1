package console

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/resolver"
)

// Defaults for the zero values of Config.
const (
	// DefaultInterval is how often the overview samples the registry.
	DefaultInterval = 10 * time.Second
	// DefaultSamples is how many samples the overview keeps: an hour at DefaultInterval.
	DefaultSamples = 360
	// DefaultHistory is how many uploads of each document the history keeps.
	DefaultHistory = 20
)

//go:embed web
var webFiles embed.FS

// Explainer explains what a client gets for a name; *resolver.Resolver is one.
type Explainer interface {
	Explain(ctx context.Context, q resolver.Query) (resolver.Explanation, error)
}

// Config configures a Console. Every field is optional: what is missing is shown as missing.
type Config struct {
	// Gatherer is the registry the overview samples (the one /metrics serves); nil: no overview.
	Gatherer prometheus.Gatherer
	// Interval is how often the overview samples it; default 10s.
	Interval time.Duration
	// Samples is how many samples the overview keeps; default 360 (an hour at 10s).
	Samples int
	// Explainer backs the lookup; nil: the lookup answers 404.
	Explainer Explainer
	// DefaultTier is the tier of names a whitelist does not list, for validating uploads; default
	// cityisp.
	DefaultTier cache.Tier
	// CIDRDB gives the databases serving now (*cidrdb.Live's Current); nil: no CIDRDB page.
	CIDRDB func() *cidrdb.DB
	// CIDRDBPath is the CIDRDB file the blocks are read from; "": the node has no CIDRDB.
	CIDRDBPath string
	// ProbeReport is the JSON report `httpdns probe -report` wrote for the CIDRDB; "" or missing:
	// the page says there is none.
	ProbeReport string
	// History is how many uploads of the whitelist and of the accounts are remembered; default 20.
	History int
	// Logger receives sampling errors; nil: discard.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Console is the operators' web console: embedded pages at /console/ and their data at
// /console/api/. Its Handler does not check the admin token: the api mounts /console/api/ behind
// it (api.Config.Console).
type Console struct {
	cfg     Config
	ring    *ring
	history *history
	blocks  *blockCache
	mux     *http.ServeMux
	lookups chan struct{} // a slot per lookup in flight (maxLookups)
}

// New builds a Console; Run samples the overview until its context ends.
func New(cfg Config) (*Console, error) {
	if cfg.Interval < 0 || cfg.Samples < 0 || cfg.History < 0 {
		return nil, fmt.Errorf("configuring console: interval %v, samples %d and history %d must not be negative",
			cfg.Interval, cfg.Samples, cfg.History)
	}
	cfg.Interval = cmp.Or(cfg.Interval, DefaultInterval)
	cfg.Samples = cmp.Or(cfg.Samples, DefaultSamples)
	cfg.History = cmp.Or(cfg.History, DefaultHistory)
	if cfg.DefaultTier == 0 {
		cfg.DefaultTier = cache.TierCityISP
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{cfg: cfg, ring: newRing(cfg.Samples), history: newHistory(cfg.History, cfg.Now),
		blocks: &blockCache{}, lookups: make(chan struct{}, maxLookups)}
	static, err := fs.Sub(webFiles, "web")
	if err != nil {
		return nil, fmt.Errorf("configuring console: %w", err)
	}
	mux := http.NewServeMux()
	files := http.StripPrefix("/console/", http.FileServerFS(static))
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the console's pages are read with GET")
			return
		}
		files.ServeHTTP(w, r)
	})
	endpoints := map[string]string{} // path: the method it takes
	handle := func(method, path string, h http.HandlerFunc) {
		endpoints[path] = method
		mux.HandleFunc(method+" "+path, h)
	}
	handle(http.MethodGet, "/console/api/overview", c.handleOverview)
	handle(http.MethodGet, "/console/api/lookup", c.handleLookup)
	handle(http.MethodPost, "/console/api/validate", c.handleValidate)
	handle(http.MethodGet, "/console/api/history", c.handleHistory)
	handle(http.MethodGet, "/console/api/cidrdb", c.handleCIDRDB)
	handle(http.MethodGet, "/console/api/cidrdb/lookup", c.handleCIDRDBLookup)
	handle(http.MethodGet, "/console/api/cidrdb/map.png", c.handleMap)
	mux.HandleFunc("/console/api/", func(w http.ResponseWriter, r *http.Request) {
		method, ok := endpoints[r.URL.Path]
		if !ok {
			writeError(w, http.StatusNotFound, "NotFound", "no such console endpoint")
			return
		}
		if method == http.MethodGet {
			method = "GET, HEAD"
		}
		w.Header().Set("Allow", method)
		writeError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.URL.Path+" takes "+method)
	})
	c.mux = mux
	return c, nil
}

// Handler serves /console/ (the pages, without a token) and /console/api/ (the data; mount it
// behind the admin token). Every answer carries the console's security headers.
func (c *Console) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure(w.Header())
		c.mux.ServeHTTP(w, r)
	})
}

// Run samples the overview every Interval until ctx ends. Without a Gatherer it returns at once.
func (c *Console) Run(ctx context.Context) {
	if c.cfg.Gatherer == nil {
		return
	}
	c.ring.run(ctx, c.cfg.Gatherer, c.cfg.Interval, c.cfg.Now, func(err error) {
		c.cfg.Logger.Warn("console: sampling the metrics", "err", err)
	})
}

// secure sets the headers that keep the console's pages to themselves: scripts, styles and images
// only from the console itself (no inline script, no CDN), never framed, never sniffed, no referrer
// leaving, and nothing cached (the data is live and the pages are small).
func secure(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob:; object-src 'none'; "+
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// overview is GET /console/api/overview's answer.
type overview struct {
	IntervalSeconds float64  `json:"interval_seconds"`
	Capacity        int      `json:"capacity"`
	Samples         []Sample `json:"samples"`
}

func (c *Console) handleOverview(w http.ResponseWriter, _ *http.Request) {
	if c.cfg.Gatherer == nil {
		writeError(w, http.StatusNotFound, "NotFound", "this node has no metrics registry to sample")
		return
	}
	writeJSON(w, overview{IntervalSeconds: c.cfg.Interval.Seconds(), Capacity: c.cfg.Samples, Samples: c.ring.samples()})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", "encoding the answer failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers {"code","message"} like the rest of the admin API.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// parseAddr reads a client address parameter.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, errors.New("not an IP address")
	}
	return a.Unmap(), nil
}
