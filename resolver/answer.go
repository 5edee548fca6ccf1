package resolver

import (
	"errors"
	"net/netip"
)

// Qtypes the resolver answers. They are the DNS type codes (RFC 1035, RFC 3596).
const (
	TypeA    uint16 = 1
	TypeAAAA uint16 = 28
)

// Query is one question from a client: a name, an address family and the end user's address.
type Query struct {
	// Name is the host name as the client sent it; Resolve canonicalises it (lower case, no trailing dot).
	Name string
	// Qtype is TypeA or TypeAAAA.
	Qtype uint16
	// Client is the end user's address: the connection's, a trusted proxy's X-Forwarded-For, or ip=.
	Client netip.Addr
}

// Answer is what the resolver returns for a Query.
type Answer struct {
	// Name is the canonical name that was asked (lower case, no trailing dot).
	Name string
	// Qtype is the type that was asked.
	Qtype uint16
	// IPs are the final addresses after following CNAMEs; empty for NXDOMAIN and NODATA.
	IPs []netip.Addr
	// Rcode is the DNS rcode of the cached reply: 0 (NOERROR; NODATA when IPs is empty) or 3
	// (NXDOMAIN), which the DNS-message doors (RFC 8484, JSON) report as the client's rcode.
	Rcode int
	// TTL is the remaining lifetime in seconds, clamped to the configured bounds.
	TTL uint32
	// OriginTTL is the TTL the upstream gave (the smallest along a CNAME chain), clamped.
	OriginTTL uint32
	// Tier is the cache tier the name was served from: "subnet", "cityisp" or "global".
	Tier string
	// Scope is the client range this answer is cached for: a block prefix, the ECS scope prefix,
	// a "country/city/isp" label, or "" for the global tier.
	Scope string
	// Source tells where the answer came from: "hit", "stale", "miss" (fetched upstream now), "l2"
	// (fetched by another node of the fleet, from the shared answer cache).
	Source string
}

// Errors returned by Resolve. The api package maps them to HTTP status codes.
var (
	// ErrInvalidName means the name is not a valid DNS host name.
	ErrInvalidName = errors.New("invalid host name")
	// ErrInvalidType means the query type is neither A nor AAAA.
	ErrInvalidType = errors.New("invalid query type")
	// ErrUpstreamUnavailable means every upstream failed and no stale answer was cached.
	ErrUpstreamUnavailable = errors.New("upstream unavailable")
	// ErrUpstreamBusy means the cap on concurrent upstream queries was reached and no slot freed up
	// in time; the client may retry shortly.
	ErrUpstreamBusy = errors.New("upstream busy")
)
