package resolver

import (
	"net/netip"
	"time"
)

// DemandSink receives the client prefixes that asked: for IPv6 clients their /56 (the ECS source).
// The prober probes IPv6 where clients are, never by enumerating an allocation, and this is how it
// learns where they are. It is called on every IPv6 request, hits included, so it must be cheap,
// must not block and should drop repeats itself.
type DemandSink interface {
	RecordDemand(DemandSignal)
}

// DemandSignal is one request's client prefix.
type DemandSignal struct {
	Name   string
	Qtype  uint16
	Source netip.Prefix // the client's ECS source prefix: its /56
	Block  netip.Prefix // the CIDRDB network the client located in; invalid when it has none
	Time   time.Time
}

// noteDemand passes an IPv6 client's /56 to the demand sink, if any.
func (r *Resolver) noteDemand(req *request) {
	if r.cfg.Demand == nil || !req.src.IsValid() || !req.src.Addr().Is6() {
		return
	}
	r.cfg.Demand.RecordDemand(DemandSignal{Name: req.name, Qtype: req.qtype, Source: req.src,
		Block: req.loc.Network, Time: r.cfg.Now()})
}
