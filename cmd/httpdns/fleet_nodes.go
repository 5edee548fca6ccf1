package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"

	"github.com/httpdns/httpdns/api"
	"github.com/httpdns/httpdns/fleet"
)

// fleetView is what GET /admin/fleet reads: the fleet's store, or a nil interface without a fleet
// (the endpoint then answers 404 saying so).
func (s *service) fleetView() api.FleetView {
	if s.fleet == nil {
		return nil
	}
	return s.fleet.store
}

// fleetID is this node's id in the fleet, "" without one.
func (s *service) fleetID() string {
	if s.fleet == nil {
		return ""
	}
	return s.fleet.who
}

// runHeartbeat publishes this node's heartbeat until ctx ends, then removes it: its id, the addresses
// it serves on, the state of each shared document and its L2's counts. Nothing without a fleet.
func (s *service) runHeartbeat(ctx context.Context, public, admin net.Addr, logger *slog.Logger) {
	if s.fleet == nil {
		return
	}
	cfg := fleet.HeartbeatConfig{
		ID:          s.fleet.who,
		Listen:      advertised(public),
		AdminListen: advertised(admin),
		// The sync interval, but at least every fleet.DefaultHeartbeatInterval (NewHeartbeater caps
		// it), so /admin/fleet shows a node's syncs within seconds and a node that stopped leaves the
		// list within three intervals.
		Interval: s.fleet.interval,
		Docs:     s.fleet.Status,
		L2:       s.l2Stats(), // fleet_l2.go; nil with fleet.l2_cache off
		Metrics:  s.heartbeats,
		Logger:   logger,
	}
	h, err := s.fleet.store.NewHeartbeater(cfg)
	if err != nil { // the id was checked with the config; a node without heartbeats still serves
		logger.Error("fleet: no heartbeats", "err", err)
		return
	}
	// The first heartbeat reports the versions found in Redis at start, not the state files' (up to
	// one interval later, /admin/fleet showed a node that had just applied the fleet's version as
	// behind); a Redis that does not answer delays it by at most one interval.
	s.fleet.waitTried(ctx, h.Interval())
	h.Run(ctx)
}

// advertised is a listener's address as other hosts can reach it: an unspecified host (":8080",
// "0.0.0.0:8080", "[::]:8080") is replaced by the hostname.
func advertised(a net.Addr) string {
	if a == nil {
		return ""
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil || !ap.Addr().IsUnspecified() {
		return a.String()
	}
	host, err := os.Hostname()
	if err != nil {
		return a.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(int(ap.Port())))
}
