package api

import (
	"net/http"
	"net/netip"
	"strings"
)

// IPParam is who may choose the client a request is answered for, instead of the sender: the
// ip= of /d and /resolve and every door's equivalent (Alibaba's ip= and cip=, DNSPod's ip=, Google's
// edns_client_subnet, the ECS option of an RFC 8484 query).
type IPParam string

// The IPParam values.
const (
	// IPParamAny lets every client choose (the default): server-side callers pass their users'
	// addresses, as Alibaba's and DNSPod's services allow.
	IPParamAny IPParam = "any"
	// IPParamTrusted lets only requests whose connection comes from a trusted proxy choose. Others'
	// choice is ignored, not refused: they are answered for their own address (client_ip says which),
	// as an SDK that always sends its device's address expects, and a well-formed request never
	// fails for it.
	IPParamTrusted IPParam = "trusted"
	// IPParamOff lets nobody choose: every request is answered for its sender.
	IPParamOff IPParam = "off"
)

// valid reports whether p is one of the three values.
func (p IPParam) valid() bool {
	return p == IPParamAny || p == IPParamTrusted || p == IPParamOff
}

// mayChoose reports whether r may choose the client it is answered for (Config.IPParam). Every
// door asks it before it uses an address the request names.
func (a *API) mayChoose(r *http.Request) bool {
	switch a.ipParam {
	case IPParamAny:
		return true
	case IPParamTrusted:
		return len(a.trusted) > 0 && a.isTrusted(peerAddr(r.RemoteAddr))
	}
	return false
}

// clientAddr is the end user's address a request is answered for:
//
//  1. ip=, when given and not empty, and the request may choose (mayChoose): server-side callers
//     pass their user's address. It must be an IPv4 or IPv6 address without zone; IPv4-mapped IPv6
//     is unmapped. A request that may not choose has its ip= ignored (and counted), not checked.
//  2. Otherwise the sender (see sender).
func (a *API) clientAddr(r *http.Request, ip param) (netip.Addr, error) {
	if ip.val != "" || ip.bad {
		if !a.mayChoose(r) {
			a.limitMetrics.ipIgnored.Inc()
			return a.sender(r), nil
		}
		addr, err := netip.ParseAddr(ip.val)
		if ip.bad || err != nil || addr.Zone() != "" {
			return netip.Addr{}, errInvalidIP(ip.val)
		}
		return addr.Unmap(), nil
	}
	return a.sender(r), nil
}

// sender is the address a request comes from, whatever it asks: the connection's peer; if the peer
// is one of the trusted proxies and the request carries X-Forwarded-For, the rightmost address in
// it that is not itself a trusted proxy (see forwardedFor). The rate limit counts requests by it.
//
// A peer address that can't be parsed (a Unix socket) gives the zero Addr: client_ip is then "".
func (a *API) sender(r *http.Request) netip.Addr {
	peer := peerAddr(r.RemoteAddr)
	if len(a.trusted) == 0 || !a.isTrusted(peer) {
		return peer
	}
	if xff := r.Header["X-Forwarded-For"]; len(xff) > 0 {
		if addr, ok := a.forwardedFor(xff); ok {
			return addr
		}
	}
	return peer
}

// forwardedFor walks X-Forwarded-For from the right (the entry the nearest proxy appended) to the left,
// over every header line in order, and returns the first address that is not a trusted proxy: the
// entries left of it were written by the client and prove nothing. If every entry is a trusted proxy,
// the leftmost one is the client. An empty or malformed entry on the way (an address with a zone
// included) makes the header worthless: ok is false and the caller keeps the peer, rather than
// rejecting a request for what a proxy wrote. An entry may carry a port, as some proxies add one.
func (a *API) forwardedFor(lines []string) (netip.Addr, bool) {
	var last netip.Addr
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			j := strings.LastIndexByte(rest, ',')
			addr, ok := parseForwarded(strings.TrimSpace(rest[j+1:]))
			if !ok {
				return netip.Addr{}, false
			}
			if !a.isTrusted(addr) {
				return addr, true
			}
			last = addr
			if j < 0 {
				break
			}
			rest = rest[:j]
		}
	}
	return last, last.IsValid()
}

// parseForwarded parses one X-Forwarded-For entry: an address, or an address and port.
func parseForwarded(s string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		addr = ap.Addr()
	}
	if addr.Zone() != "" {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// peerAddr is the address of a connection's peer, from http.Request.RemoteAddr ("ip:port"), unmapped
// and without zone (a link-local peer's zone names our interface, not the client).
func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if addr, err := netip.ParseAddr(remote); err == nil {
		return addr.Unmap().WithZone("")
	}
	return netip.Addr{}
}

func (a *API) isTrusted(addr netip.Addr) bool {
	for _, p := range a.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
