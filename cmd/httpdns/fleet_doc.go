package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/httpdns/httpdns/api"
	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/atomicfile"
)

// docKind is what the fleet syncer needs of one kind of shared document (whitelist, accounts,
// cidrdb); the syncer does the versions, Redis and the state file, the kind the content.
type docKind interface {
	// validate checks body whole, as this node would load it; nil means apply can take it.
	validate(body []byte) error
	// apply puts a validated body in force on this node and writes its local copy atomically; on
	// error what served before still serves.
	apply(body []byte) error
	// local returns the local copy this node serves, nil when it has none.
	local() ([]byte, error)
}

// fleetState is a kind's state file (its local copy's path plus ".fleet"): which fleet version the
// local copy is, so a restarted node knows it and can restore it into a Redis that came back empty.
type fleetState struct {
	Version int64     `json:"version"`
	SHA256  string    `json:"sha256"`
	Who     string    `json:"who"`
	When    time.Time `json:"when"`
}

// fleetDoc keeps one kind of document in step with the fleet (docs/design.md §9.4): the kind's live
// copy stays what lookups read, and Redis is where a change is agreed. An upload is validated, put
// with compare-and-set on the version this node last applied, then applied and saved locally; every
// node syncs on notifications, on each re-subscription and every sync interval, and applies a newer
// version it finds valid.
type fleetDoc struct {
	kind      string
	impl      docKind
	store     *fleet.Store
	statePath string
	interval  time.Duration
	log       *slog.Logger
	metrics   *fleetMetrics
	kick      chan struct{} // asks the sync loop for a sync now
	// tried is closed once the sync loop's first sync has returned, whatever it found: the first
	// heartbeat waits for it, so it reports what the node serves after reading Redis, not before.
	tried     chan struct{}
	triedOnce sync.Once

	mu    sync.Mutex // serialises uploads and syncs; guards what follows
	state fleetState
	// rejected is the newest version in Redis this node refused (a bad document written there by
	// hand): it is not checked again, and an upload replaces it instead of being refused as a
	// conflict forever.
	rejected fleetState
	// rejectedErr is why rejected was refused: what status reports while Redis holds it.
	rejectedErr string
	lastSync    time.Time
	lastErr     string
	// unreachable is whether the last sync failed to reach Redis: the sync loop then retries
	// soon (1 s, doubling up to the interval) instead of waiting for the interval or for the
	// subscription to notice Redis is back, so a Redis restarted empty is restored promptly.
	unreachable bool
}

// newFleetDoc reads kind's state file. A missing one, or one that does not describe the local copy
// (edited by hand since), is version 0: the node takes whatever the fleet holds.
func newFleetDoc(kind string, impl docKind, statePath string, n *fleetNode) (*fleetDoc, error) {
	d := &fleetDoc{kind: kind, impl: impl, store: n.store, statePath: statePath, interval: n.interval,
		log: n.log, metrics: n.metrics, kick: make(chan struct{}, 1), tried: make(chan struct{})}
	b, err := os.ReadFile(statePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("reading the fleet state %s: %w", statePath, err)
	default:
		if err := json.Unmarshal(b, &d.state); err != nil {
			return nil, fmt.Errorf("reading the fleet state %s: %w", statePath, err)
		}
		local, err := impl.local()
		if err != nil {
			return nil, fmt.Errorf("reading the local %s: %w", kind, err)
		}
		if d.state.SHA256 != fleet.Sum(local) {
			n.log.Warn("fleet: the local copy is not the version the state file names; taking the fleet's",
				"kind", kind, "state", statePath, "version", d.state.Version)
			d.state = fleetState{}
		}
	}
	n.metrics.version.WithLabelValues(kind).Set(float64(d.state.Version))
	return d, nil
}

// Version returns the fleet version this node serves (0: none yet).
func (d *fleetDoc) Version() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state.Version
}

// status reports the version served and the last sync.
func (d *fleetDoc) status() fleet.DocStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fleet.DocStatus{Kind: d.kind, Version: d.state.Version, SHA256: d.state.SHA256, Who: d.state.Who,
		When: d.state.When, LastSync: d.lastSync, LastError: d.lastErr}
}

// publish is an upload: validate, put into the fleet on the version this node has, apply and save.
// A version conflict is an *api.VersionConflictError (and this node syncs at once); Redis
// unreachable wraps api.ErrFleetUnavailable. Either way nothing changes on this node.
func (d *fleetDoc) publish(body []byte, who string) (fleet.Document, error) {
	if err := d.impl.validate(body); err != nil {
		return fleet.Document{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), fleetTimeout)
	defer cancel()
	doc, err := d.store.Put(ctx, d.kind, body, who, max(d.state.Version, d.rejected.Version))
	var ce *fleet.ConflictError
	switch {
	case errors.As(err, &ce):
		d.syncSoon()
		return fleet.Document{}, &api.VersionConflictError{Kind: d.kind, Current: ce.Current}
	case errors.Is(err, fleet.ErrTooLarge):
		return fleet.Document{}, err
	case err != nil:
		return fleet.Document{}, fmt.Errorf("%w: %w", api.ErrFleetUnavailable, err)
	}
	// Put the fleet's version in force here even if saving its state fails: the fleet has it now.
	return doc, d.apply(doc)
}

// apply makes doc this node's copy and records its version; mu is held.
func (d *fleetDoc) apply(doc fleet.Document) error {
	if err := d.impl.apply(doc.Body); err != nil {
		return err
	}
	d.state = fleetState{Version: doc.Version, SHA256: doc.SHA256, Who: doc.Who, When: doc.When}
	d.metrics.version.WithLabelValues(d.kind).Set(float64(doc.Version))
	b, _ := json.Marshal(d.state) // cannot fail: plain fields
	if err := atomicfile.Write(d.statePath, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("saving the fleet state %s: %w", d.statePath, err)
	}
	return nil
}

func (d *fleetDoc) syncSoon() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// result counts one sync's outcome and keeps it for status; mu is held. err is nil for applied,
// current and restored.
func (d *fleetDoc) result(result string, err error) {
	d.metrics.syncs.WithLabelValues(d.kind, result).Inc()
	d.unreachable = result == "error"
	if err != nil {
		d.lastErr = err.Error()
		return
	}
	d.lastSync, d.lastErr = time.Now(), ""
}

// sync reads the fleet's document and applies it if it is newer and valid; if the fleet has none,
// or an older one (Redis came back empty), it restores the local copy.
func (d *fleetDoc) sync(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, fleetTimeout)
	defer cancel()
	// The version alone first: a notification (anyone who reaches Redis can publish one) or a
	// periodic sync at the version served, or at one refused already, costs one small read rather
	// than reading and hashing the whole document (a CIDRDB may be many MB).
	if v, err := d.store.Version(ctx, d.kind); err == nil && v > 0 {
		switch v {
		case d.state.Version:
			d.result("current", nil)
			return
		case d.rejected.Version:
			d.stillRejected()
			return
		}
	}
	doc, err := d.store.Get(ctx, d.kind)
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		d.restore(ctx, 0)
		return
	case errors.Is(err, fleet.ErrCorrupt), errors.Is(err, fleet.ErrTooLarge):
		d.result("rejected", err)
		d.log.Error("fleet: rejected the shared document, keeping this node's", "kind", d.kind,
			"version", d.state.Version, "err", err)
		return
	case err != nil:
		d.result("error", err)
		d.log.Warn("fleet: cannot read the shared document, serving this node's", "kind", d.kind,
			"version", d.state.Version, "err", err)
		return
	}
	switch {
	case doc.Version < d.state.Version:
		d.restore(ctx, doc.Version)
	case doc.Version == d.rejected.Version && doc.SHA256 == d.rejected.SHA256:
		d.stillRejected()
	case doc.Version > d.state.Version:
		d.take(doc)
	default:
		d.result("current", nil)
	}
}

// stillRejected is a sync that found the version refused already: counted and logged when it was
// refused, so only kept for status again (an error of a sync in between, Redis unreachable, is over);
// an upload or a newer version moves on. mu is held.
func (d *fleetDoc) stillRejected() {
	d.unreachable = false
	d.lastErr = d.rejectedErr
}

// take validates and applies a newer version read from the fleet; mu is held.
func (d *fleetDoc) take(doc fleet.Document) {
	if err := d.impl.validate(doc.Body); err != nil {
		err = fmt.Errorf("version %d refused: %w", doc.Version, err)
		d.rejected = fleetState{Version: doc.Version, SHA256: doc.SHA256, Who: doc.Who, When: doc.When}
		d.rejectedErr = err.Error()
		d.result("rejected", err)
		d.log.Error("fleet: rejected the shared document, keeping this node's", "kind", d.kind,
			"version", doc.Version, "who", doc.Who, "current", d.state.Version, "err", err)
		return
	}
	if err := d.apply(doc); err != nil {
		d.result("error", fmt.Errorf("applying version %d: %w", doc.Version, err))
		d.log.Error("fleet: applying the shared document", "kind", d.kind, "version", doc.Version, "err", err)
		return
	}
	d.result("applied", nil)
	d.log.Info("fleet: applied the shared document", "kind", d.kind, "version", doc.Version,
		"who", doc.Who, "bytes", len(doc.Body))
}

// restore puts the local copy back into a Redis that holds an older version (have) or none; mu is
// held.
func (d *fleetDoc) restore(ctx context.Context, have int64) {
	if d.state.Version == 0 {
		d.result("current", nil) // nothing of the fleet's here to restore
		return
	}
	body, err := d.impl.local()
	if err == nil && fleet.Sum(body) != d.state.SHA256 {
		err = fmt.Errorf("the local copy changed since version %d was applied", d.state.Version)
	}
	if err != nil {
		d.result("error", err)
		d.log.Warn("fleet: cannot restore the shared document", "kind", d.kind, "version", d.state.Version, "err", err)
		return
	}
	doc := fleet.Document{Kind: d.kind, Version: d.state.Version, SHA256: d.state.SHA256,
		Who: d.state.Who, When: d.state.When, Body: body}
	wrote, err := d.store.Restore(ctx, doc)
	switch {
	case err != nil:
		d.result("error", err)
		d.log.Warn("fleet: restoring the shared document", "kind", d.kind, "version", doc.Version, "err", err)
	case !wrote:
		d.result("current", nil) // another node restored it first
	default:
		d.result("restored", nil)
		d.log.Info("fleet: restored the shared document from this node's copy", "kind", d.kind,
			"version", doc.Version, "redis_had", have)
	}
}

// run syncs at once, then whenever kicked and every interval, until ctx ends; while Redis cannot
// be reached it retries after 1 s, 2 s, 4 s ... up to the interval.
func (d *fleetDoc) run(ctx context.Context) {
	t := time.NewTicker(d.interval)
	defer t.Stop()
	retry := time.NewTimer(d.interval)
	retry.Stop()
	var backoff time.Duration
	for {
		d.sync(ctx)
		d.triedOnce.Do(func() { close(d.tried) })
		if d.failing() {
			backoff = min(max(2*backoff, time.Second), d.interval)
			retry.Reset(backoff)
		} else {
			backoff = 0
			retry.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.kick:
		case <-retry.C:
		}
	}
}

// failing reports whether the last sync could not reach Redis.
func (d *fleetDoc) failing() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.unreachable
}
