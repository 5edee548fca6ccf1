package main

import (
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/console"
)

// newConsole builds the web console over the service's resolver, databases and metrics registry.
func newConsole(cfg *Config, s *service, gatherer prometheus.Gatherer, logger *slog.Logger) (*console.Console, error) {
	tier, err := cache.ParseTier(cfg.DefaultTier) // validated with the config
	if err != nil {
		return nil, err
	}
	report := cfg.Console.ProbeReport
	if report == "" && cfg.CIDRDB != "" {
		report = filepath.Join(filepath.Dir(cfg.CIDRDB), "probe-report.json")
	}
	return console.New(console.Config{
		Gatherer:    gatherer,
		Interval:    time.Duration(cfg.Console.SampleInterval),
		Samples:     cfg.Console.Samples,
		Explainer:   s.resolver,
		DefaultTier: tier,
		CIDRDB:      s.db.Current,
		CIDRDBPath:  cfg.CIDRDB,
		ProbeReport: report,
		Logger:      logger,
	})
}
