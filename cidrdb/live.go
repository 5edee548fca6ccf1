package cidrdb

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Live is a DB that can be replaced while it serves: Locate and Siblings read the current snapshot
// through an atomic pointer, without a lock; Reload opens the files again, validates them whole
// (types, structure, every record, a non-empty CIDRDB: see Open) and swaps the new DB in only if all is well, so a bad file
// leaves the old one serving. Every database is read into memory (nothing is memory-mapped), so
// a replaced DB is simply dropped: lookups still running on it finish safely and the garbage
// collector frees it after them.
type Live struct {
	cfg     Config
	logger  *slog.Logger
	metrics *liveMetrics

	cur atomic.Pointer[DB]

	mu     sync.Mutex // serialises Reload and Close
	seen   []fileStamp
	closed bool
}

// LiveOptions tunes a Live. Zero values take the defaults given.
type LiveOptions struct {
	// Registerer receives the httpdns_cidrdb_* metrics; nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Logger reports reloads; nil discards.
	Logger *slog.Logger
}

// NewLive opens cfg's databases; the error is Open's.
func NewLive(cfg Config, opts LiveOptions) (*Live, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	l := &Live{cfg: cfg, logger: opts.Logger, metrics: newLiveMetrics(opts.Registerer)}
	start := time.Now()
	db, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	l.seen = l.stamps()
	l.cur.Store(db)
	l.metrics.loaded(db, time.Since(start))
	return l, nil
}

// Locate locates addr in the current DB.
func (l *Live) Locate(addr netip.Addr) Location { return l.cur.Load().Locate(addr) }

// Siblings lists loc's sibling blocks in the current DB.
func (l *Live) Siblings(loc Location, k int) []netip.Prefix { return l.cur.Load().Siblings(loc, k) }

// Current returns the DB serving now.
func (l *Live) Current() *DB { return l.cur.Load() }

// ErrClosed is returned by Reload after Close.
var ErrClosed = errors.New("cidrdb closed")

// Reload opens the configured files again and, if they are valid, swaps them in. On error the
// current DB keeps serving and the error names the file.
func (l *Live) Reload() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.seen = l.stamps()
	start := time.Now()
	db, err := Open(l.cfg)
	if err != nil {
		l.metrics.reloads.WithLabelValues("error").Inc()
		l.logger.Error("cidrdb reload rejected, keeping the current one", "cidrdb", l.cfg.CIDRDBPath, "err", err)
		return err
	}
	old := l.cur.Swap(db)
	l.metrics.loaded(db, time.Since(start))
	l.metrics.reloads.WithLabelValues("ok").Inc()
	l.logger.Info("cidrdb reloaded", "cidrdb", l.cfg.CIDRDBPath, "blocks", db.Blocks(),
		"built", db.BuildTime(), "took", time.Since(start))
	_ = old // dropped, not closed: a lookup may still be reading it
	return nil
}

// Changed reports whether any configured file's size or modification time differs from when it
// was last loaded (or last tried).
func (l *Live) Changed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.stamps()
	for i := range now {
		if !now[i].same(l.seen[i]) {
			return true
		}
	}
	return false
}

// Close closes the current DB; Reload fails afterwards. Lookups must have stopped.
func (l *Live) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.cur.Load().Close()
}

// fileStamp identifies a version of a file without reading it: its identity (device and inode,
// which a rename over it changes), size and modification time.
type fileStamp struct {
	info os.FileInfo // nil when the file is absent or unconfigured
}

func (a fileStamp) same(b fileStamp) bool {
	if a.info == nil || b.info == nil {
		return a.info == nil && b.info == nil
	}
	return os.SameFile(a.info, b.info) && a.info.Size() == b.info.Size() && a.info.ModTime().Equal(b.info.ModTime())
}

func (l *Live) stamps() []fileStamp {
	paths := []string{l.cfg.CityPath, l.cfg.ISPPath, l.cfg.CIDRDBPath}
	out := make([]fileStamp, len(paths))
	for i, p := range paths {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			out[i] = fileStamp{info: fi}
		}
	}
	return out
}

type liveMetrics struct {
	blocks   prometheus.Gauge
	built    prometheus.Gauge
	loadTime prometheus.Gauge
	reloads  *prometheus.CounterVec
}

func newLiveMetrics(reg prometheus.Registerer) *liveMetrics {
	m := &liveMetrics{
		blocks: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "httpdns_cidrdb_blocks", Help: "Blocks in the CIDRDB serving now (0 without one).",
		}),
		built: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "httpdns_cidrdb_build_timestamp_seconds", Help: "Build time of the CIDRDB serving now, from its metadata (Unix seconds).",
		}),
		loadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "httpdns_cidrdb_load_duration_seconds", Help: "How long opening and validating the serving databases took.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_cidrdb_reloads_total", Help: "CIDRDB reloads by result (ok, error: rejected, the old one kept serving).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.blocks, m.built, m.loadTime, m.reloads)
	}
	return m
}

func (m *liveMetrics) loaded(db *DB, took time.Duration) {
	m.blocks.Set(float64(db.Blocks()))
	if t := db.BuildTime(); !t.IsZero() {
		m.built.Set(float64(t.Unix()))
	} else {
		m.built.Set(0)
	}
	m.loadTime.Set(took.Seconds())
}
