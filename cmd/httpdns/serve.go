package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/httpdns/httpdns/api"
	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/cidrdb"
	"github.com/httpdns/httpdns/console"
	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/resolver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

const serveUsage = `Usage: httpdns serve -config FILE [-listen ADDR] [-admin-listen ADDR]

Runs the HTTPDNS service described by the YAML config FILE (keys: README, Configuration): the
public API (/d, /resolve, the Alibaba and DNSPod doors, /dns-query, /healthz, /readyz) on listen,
and over HTTPS (HTTP/2 and HTTP/1.1) on tls.listen when set; the admin API (/admin/domains,
/admin/accounts, /admin/cidrdb/reload, /admin/fleet, /admin/accuracy, /metrics, /healthz,
/readyz) and the web console (/console/) on admin_listen. With a fleet section the whitelist,
accounts and CIDRDB are shared with the other nodes through Redis. Flags override the file's
keys. SIGTERM or SIGINT drains in-flight requests, then stops. SIGHUP reloads the CIDRDB and geo
databases, as does a change to their files (checked every cidrdb_watch), and the TLS certificate
and key; a bad file is rejected and the old one keeps serving.
`

// runServe runs the HTTPDNS service until ctx is cancelled.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", serveUsage, stderr)
	path := fs.String("config", "", "YAML config `file` (required)")
	listen := fs.String("listen", "", "public API `address`, overrides listen")
	admin := fs.String("admin-listen", "", "admin API `address`, overrides admin_listen")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usageErrorf(fs, "-config is required")
	}
	cfg, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *admin != "" {
		cfg.AdminListen = *admin
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.Level()}))
	return serve(ctx, cfg, logger, nil)
}

// listening reports the bound addresses once both listeners are open (tests pass ":0" and read them).
type listening func(public, admin net.Addr)

// service is everything serve builds, in the order it must be closed (last built, first closed).
type service struct {
	db       *cidrdb.Live
	splits   *splitLog  // nil when disabled
	demand   *demandLog // nil when disabled
	cache    *cache.Cache
	resolver *resolver.Resolver
	api      *api.API
	console  *console.Console
	redis    redis.UniversalClient // nil without a fleet
	fleet    *fleetNode            // nil without a fleet
	l2       *fleet.L2             // the shared answer cache; nil without a fleet or with fleet.l2_cache off
	// heartbeats are the heartbeat metrics, registered with or without a fleet (fleet_nodes.go).
	heartbeats *fleet.HeartbeatMetrics
}

// newService opens the databases and builds the pipeline. Every problem is reported with the file
// or key it concerns; nothing is left half-open on error.
func newService(cfg *Config, logger *slog.Logger, reg prometheus.Registerer, gatherer prometheus.Gatherer) (_ *service, err error) {
	s := &service{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.db, err = cidrdb.NewLive(cidrdb.Config{CityPath: cfg.GeoIP.City, ISPPath: cfg.GeoIP.ISP, CIDRDBPath: cfg.CIDRDB},
		cidrdb.LiveOptions{Registerer: reg, Logger: logger})
	if err != nil {
		return nil, err
	}
	tier, err := cache.ParseTier(cfg.DefaultTier)
	if err != nil {
		return nil, fmt.Errorf("default_tier: %w", err)
	}
	wl, err := resolver.OpenWhitelist(cfg.Domains, tier)
	if err != nil {
		return nil, err
	}
	var adminWL api.Whitelist = wl
	fm, err := newFleetMetrics(reg)
	if err != nil {
		return nil, err
	}
	if s.heartbeats, err = fleet.NewHeartbeatMetrics(reg); err != nil {
		return nil, err
	}
	if cfg.Fleet.Enabled() {
		var store *fleet.Store
		var who string
		if s.redis, store, who, err = openFleet(cfg); err != nil {
			return nil, err
		}
		s.fleet = newFleetNode(store, who, time.Duration(cfg.Fleet.SyncInterval), logger, fm)
		if adminWL, err = s.fleet.shareWhitelist(wl, tier, cfg.Domains); err != nil {
			return nil, err
		}
	}
	if s.l2, err = openL2(cfg.Fleet, s.redis, reg); err != nil {
		return nil, err
	}
	var splits resolver.SplitSink
	if cfg.SplitLogMaxBytes > 0 {
		if s.splits, err = newSplitLog(cfg.SplitLog, int64(cfg.SplitLogMaxBytes), reg, logger); err != nil {
			return nil, err
		}
		splits = s.splits
	}
	var demand resolver.DemandSink
	if cfg.DemandLogMaxBytes > 0 {
		if s.demand, err = newDemandLog(cfg.DemandLog, int64(cfg.DemandLogMaxBytes), time.Duration(cfg.DemandLogPeriod),
			cfg.DemandLogMaxPrefixes, reg, logger, time.Now); err != nil {
			return nil, err
		}
		demand = s.demand
	}
	s.cache, err = cache.New(cache.Config{
		MaxBytes:     int64(cfg.Cache.MaxBytes),
		StaleWindow:  time.Duration(cfg.Cache.StaleWindow),
		RefreshGrace: time.Duration(cfg.Cache.RefreshGrace),
		Registerer:   reg,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	s.resolver, err = resolver.New(resolver.Config{
		Upstreams:           cfg.Upstreams,
		Locator:             s.db,
		Cache:               s.cache,
		Policy:              wl,
		Splits:              splits,
		Demand:              demand,
		L2:                  s.resolverL2(),
		MinTTL:              time.Duration(cfg.TTL.Min),
		MaxTTL:              time.Duration(cfg.TTL.Max),
		NegativeMaxTTL:      time.Duration(cfg.TTL.NegativeMax),
		ServfailTTL:         time.Duration(cfg.TTL.ServFail),
		UpstreamTimeout:     time.Duration(cfg.Timeouts.Upstream),
		RequestTimeout:      time.Duration(cfg.Timeouts.Request),
		UpstreamQPS:         cfg.UpstreamQPS,
		UpstreamMaxInflight: cfg.UpstreamMaxInflight,
		PrefetchSiblings:    prefetchSiblings(cfg.Refresh.PrefetchSiblings),
		ActiveMinAsks:       cfg.Refresh.ActiveMinAsks,
		TrackKeys:           cfg.Refresh.TrackKeys,
		Accuracy: resolver.AccuracyConfig{Sample: cfg.Accuracy.Sample, MaxPerSecond: cfg.Accuracy.MaxPerSecond,
			LogSize: cfg.Accuracy.LogSize},
		HedgeMin:            hedgeMin(cfg.Timeouts.Hedge),
		HealthCheckInterval: time.Duration(cfg.Timeouts.HealthCheck),
		Registerer:          reg,
		Logger:              logger,
	})
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	accounts, err := startAccounts(cfg, logger)
	if err != nil {
		return nil, err
	}
	if s.console, err = newConsole(cfg, s, gatherer, logger); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	s.api, err = api.New(api.Config{
		Resolver:         s.resolver,
		Whitelist:        adminWL,
		CIDRDB:           s.db,
		AdminToken:       cfg.AdminToken,
		TrustedProxies:   cfg.TrustedProxyPrefixes,
		BatchLimit:       cfg.BatchLimit,
		Accounts:         accounts,
		AccountsFile:     cfg.AccountsFile,
		Fleet:            s.fleetView(),
		FleetNode:        s.fleetID(),
		ServiceIPs:       cfg.advertisedServiceIPs(),
		ClientQPS:        cfg.Limits.ClientQPS,
		ClientBurst:      cfg.Limits.ClientBurst,
		RateLimitClients: cfg.Limits.MaxClients,
		IPParam:          api.IPParam(cfg.Limits.IPParam),
		Timeout:          time.Duration(cfg.Timeouts.Request),
		Registerer:       reg,
		Gatherer:         gatherer,
		Console:          s.console.Handler(),
		ReadyChecks: []api.ReadyCheck{
			{Name: "databases", Check: databasesReady(s.db, cfg.CIDRDB != "")},
			{Name: "upstreams", Check: s.resolver.Ready},
		},
		Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if s.fleet != nil {
		if err := s.fleet.shareAccounts(s.api, cfg.AccountsFile); err != nil {
			return nil, err
		}
		if err := s.fleet.shareCIDRDB(s.db, cfg.CIDRDB); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *service) close() {
	if s.resolver != nil {
		s.resolver.Close()
	}
	if s.l2 != nil {
		s.l2.Close() // after the resolver, whose last fetches may still write
	}
	if s.splits != nil {
		s.splits.Close()
	}
	if s.demand != nil {
		s.demand.Close()
	}
	if s.cache != nil {
		s.cache.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
	if s.redis != nil {
		s.redis.Close()
	}
}

// serve runs the service until ctx ends, then drains every listener within the shutdown timeout.
// tlsReady, if given, is told the TLS listener's address once it listens (tests listen on ":0").
func serve(ctx context.Context, cfg *Config, logger *slog.Logger, ready listening, tlsReady ...func(net.Addr)) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	svc, err := newService(cfg, logger, reg, reg)
	if err != nil {
		return err
	}
	defer svc.close()
	pubLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	admLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		pubLn.Close()
		return fmt.Errorf("admin_listen: %w", err)
	}
	cert, tlsLn, err := listenTLS(cfg.TLS)
	if err != nil {
		pubLn.Close()
		admLn.Close()
		return err
	}
	// Both listeners get the same bounds: a slow or idle client must not tie up the admin API either.
	limits := api.ServerConfig{
		ReadHeaderTimeout: time.Duration(cfg.Timeouts.ReadHeader),
		ReadTimeout:       time.Duration(cfg.Timeouts.Read),
		WriteTimeout:      time.Duration(cfg.Timeouts.Write),
		IdleTimeout:       time.Duration(cfg.Timeouts.Idle),
		Logger:            logger,
	}
	// The console's history sees every accepted upload of the admin API, the console's or curl's.
	admin := svc.console.Record(svc.api.Admin())
	servers := []*http.Server{api.NewServer(svc.api.Public(), limits), api.NewServer(admin, limits)}
	errc := make(chan error, 3)
	for i, ln := range []net.Listener{pubLn, admLn} {
		ln, srv := api.LimitListener(ln, cfg.MaxConns), servers[i]
		go func() { errc <- srv.Serve(ln) }()
	}
	if tlsLn != nil {
		// The public handler again: one rate limit per client, whichever listener it comes in by.
		srv := api.NewTLSServer(svc.api.Public(), limits, cert)
		ln := api.LimitListener(tlsLn, cfg.MaxConns)
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
		servers = append(servers, srv)
	}
	// SIGHUP is caught from here on, before anything can send it expecting a reload.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// The background work (the console's sampling, reloads, the fleet's syncs and heartbeats) ends
	// with wctx, and serve waits for it before the service it uses is closed.
	wctx, stopWatch := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() { stopWatch(); bg.Wait() }()
	bg.Go(func() { svc.console.Run(wctx) })
	bg.Go(func() {
		watchCIDRDB(wctx, svc.db, hup, time.Duration(cfg.CIDRDBWatch), logger, reloadCert(cert, logger))
	})
	if svc.fleet != nil {
		bg.Go(func() { svc.fleet.run(wctx) })
	}
	bg.Go(func() { svc.runHeartbeat(wctx, pubLn.Addr(), admLn.Addr(), logger) })
	logger.Info("serving", "version", currentBuild().String(),
		"listen", pubLn.Addr().String(), "admin_listen", admLn.Addr().String(),
		"upstreams", cfg.Upstreams, "cidrdb", cfg.CIDRDB, "domains", cfg.Domains)
	if tlsLn != nil {
		logger.Info("serving TLS", "tls_listen", tlsLn.Addr().String(), "cert", cfg.TLS.Cert,
			"subject", cert.Leaf().Subject.String(), "not_after", cert.Leaf().NotAfter)
		for _, f := range tlsReady {
			f(tlsLn.Addr())
		}
	}
	if ready != nil {
		ready(pubLn.Addr(), admLn.Addr())
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
		logger.Error("listener stopped", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(cfg.Timeouts.Shutdown))
	defer cancel()
	for _, srv := range servers {
		if serr := srv.Shutdown(sctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("draining: %w", serr))
		}
	}
	logger.Info("stopped")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// databasesReady is /readyz's databases check: the geo databases are serving and, when a CIDRDB is
// configured, it holds blocks. serve does not start without them and a reload never swaps in a file
// that fails its checks, so this fails only if that promise is broken; the upstream check is the
// one that moves.
func databasesReady(db *cidrdb.Live, wantCIDRDB bool) func() error {
	return func() error {
		cur := db.Current()
		switch {
		case cur == nil:
			return errors.New("the geo databases are not loaded")
		case wantCIDRDB && cur.Blocks() == 0:
			return errors.New("the CIDRDB holds no blocks")
		}
		return nil
	}
}

// listenTLS loads the TLS listener's certificate and opens it; nil, nil without tls.listen.
func listenTLS(c TLSConfig) (*api.Certificate, net.Listener, error) {
	if c.Listen == "" {
		return nil, nil, nil
	}
	cert, err := api.LoadCertificate(c.Cert, c.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: %w", err)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("tls.listen: %w", err)
	}
	return cert, ln, nil
}

// reloadCert is what SIGHUP does for the TLS listener: read its certificate and key again (a bad
// pair is logged and the old one keeps serving). nil without a TLS listener.
func reloadCert(cert *api.Certificate, logger *slog.Logger) func() {
	if cert == nil {
		return nil
	}
	return func() {
		if err := cert.Reload(); err != nil {
			logger.Error("SIGHUP: keeping the TLS certificate serving", "err", err)
			return
		}
		logger.Info("SIGHUP: reloaded the TLS certificate", "subject", cert.Leaf().Subject.String(),
			"not_after", cert.Leaf().NotAfter)
	}
}

// watchCIDRDB reloads the databases on SIGHUP and, every interval (0: never), when their files
// changed; on SIGHUP it also calls onHUP, if not nil (the TLS certificate's reload). It returns
// when ctx ends. A rejected reload is logged and counted by Reload itself.
func watchCIDRDB(ctx context.Context, db *cidrdb.Live, hup <-chan os.Signal, interval time.Duration, logger *slog.Logger, onHUP func()) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			logger.Info("SIGHUP: reloading cidrdb")
			_ = db.Reload()
			if onHUP != nil {
				onHUP()
			}
		case <-tick:
			if db.Changed() {
				logger.Info("cidrdb files changed: reloading")
				_ = db.Reload()
			}
		}
	}
}

// prefetchSiblings maps the config's "0 disables" to the resolver's "negative disables".
func prefetchSiblings(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// hedgeMin maps the config's "0 disables hedging" to the resolver's "negative disables".
func hedgeMin(d Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return time.Duration(d)
}
