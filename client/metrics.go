package client

import (
	"net/netip"
	"time"
)

// Hooks receive the client's events, for metrics and logs: count lookups by source, time the
// servers, watch dials. Every field may be nil. They are called synchronously on the caller's or a
// background goroutine, concurrently: keep them quick and safe for concurrent use.
type Hooks struct {
	// Lookup is called once a lookup is answered: its name, the source of the answer (SourceNone
	// when it failed, but SourceCache when a cached answer said the name has no address) and its
	// error.
	Lookup func(host string, src Source, err error)
	// Request is called after each request to a server: its base URL, how long it took, its error.
	Request func(server string, took time.Duration, err error)
	// Dial is called after each DialContext that resolved a name.
	Dial func(DialEvent)
	// NetworkChange is called when the cache is dropped for a network change: reason is "called"
	// (NetworkChanged) or "client_ip" (a server reported a new address for this client).
	NetworkChange func(reason string)
	// CacheLoad is called by New after reading CacheFile: the answers loaded, or why none were.
	CacheLoad func(loaded int, err error)
}

// DialEvent describes one DialContext.
type DialEvent struct {
	Host     string         // the name dialed
	Addr     netip.AddrPort // the address connected to; zero if none
	Source   Source         // where the addresses came from
	Attempts int            // connection attempts started
	Took     time.Duration  // resolution and connection together
	Err      error
}

func (h *Hooks) lookup(host string, src Source, err error) {
	if h.Lookup != nil {
		h.Lookup(host, src, err)
	}
}

func (h *Hooks) serverRequest(server string, took time.Duration, err error) {
	if h.Request != nil {
		h.Request(server, took, err)
	}
}

func (h *Hooks) dial(ev DialEvent) {
	if h.Dial != nil {
		h.Dial(ev)
	}
}

func (h *Hooks) networkChange(reason string) {
	if h.NetworkChange != nil {
		h.NetworkChange(reason)
	}
}

func (h *Hooks) cacheLoad(n int, err error) {
	if h.CacheLoad != nil {
		h.CacheLoad(n, err)
	}
}
