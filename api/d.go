package api

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/httpdns/httpdns/resolver"
)

// handleD serves GET /d?host=NAME[&ip=ADDR][&query=4|6|4,6], the Alibaba Cloud HTTPDNS single lookup:
//
//	{"host":"api.example.com","client_ip":"1.2.3.4","ips":["…"],"ipsv6":["…"],
//	 "ttl":N,"origin_ttl":N,"scope":"…"}
//
// This is the hot path: the query string is parsed once without a map, the answer is appended by
// hand into a pooled buffer, and only 4,6 starts a goroutine.
func (a *API) handleD(w http.ResponseWriter, r *http.Request) {
	a.answerD(w, r, parseParams(r.URL.RawQuery), false)
}

// answerD resolves one host for the families asked and writes /d's answer, or with aliV1 Alibaba
// v1's (the same shape, families not asked left out). A flag rather than an appender func: calling an
// unknown func would move the answers to the heap on the hot path.
func (a *API) answerD(w http.ResponseWriter, r *http.Request, p params, aliV1 bool) {
	host, err := singleHost(p.host)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	fams, client, err := a.commonArgs(r, p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	a4, a6, err := a.resolveFamilies(ctx, resolver.Query{Name: host, Client: client}, fams)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	buf := a.getBuf()
	var b []byte
	if aliV1 {
		b = appendAliV1D(*buf, host, client, fams, &a4, &a6)
	} else {
		b = appendD(*buf, host, client, fams, &a4, &a6)
	}
	a.writeJSON(w, http.StatusOK, b)
	a.putBuf(buf, b)
}

// commonArgs reads what /d and /resolve share after host=: query= then the client address.
func (a *API) commonArgs(r *http.Request, p params) (families, netip.Addr, error) {
	fams, err := parseFamilies(p.query)
	if err != nil {
		return families{}, netip.Addr{}, err
	}
	client, err := a.clientAddr(r, p.ip)
	if err != nil {
		return families{}, netip.Addr{}, err
	}
	return fams, client, nil
}

// resolveFamilies resolves q for the families /d asks; the answer of a family not asked stays zero.
func (a *API) resolveFamilies(ctx context.Context, q resolver.Query, fams families) (a4, a6 resolver.Answer, err error) {
	switch {
	case fams.n == 2:
		return a.resolveBoth(ctx, q)
	case fams.has(resolver.TypeAAAA):
		q.Qtype = resolver.TypeAAAA
		a6, err = a.resolver.Resolve(ctx, q)
	default:
		q.Qtype = resolver.TypeA
		a4, err = a.resolver.Resolve(ctx, q)
	}
	return a4, a6, err
}

// resolveBoth resolves A and AAAA concurrently, AAAA on a goroutine of its own. Either failing fails
// both: /d has no place to say that one family is missing rather than empty, and an SDK would cache
// the empty list for the TTL.
func (a *API) resolveBoth(ctx context.Context, q resolver.Query) (a4, a6 resolver.Answer, err error) {
	q4, q6 := q, q
	q4.Qtype, q6.Qtype = resolver.TypeA, resolver.TypeAAAA
	var err6 error
	done := make(chan struct{})
	go func() {
		defer close(done)
		a6, err6 = a.safeResolve(ctx, q6)
	}()
	a4, err = a.resolver.Resolve(ctx, q4)
	<-done
	if err == nil {
		err = err6
	}
	return a4, a6, err
}

// safeResolve is Resolve for goroutines the handler starts: a panic there would kill the process, so
// it is recovered into an error the handler answers as a 500.
func (a *API) safeResolve(ctx context.Context, q resolver.Query) (ans resolver.Answer, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = a.recovered(v)
		}
	}()
	return a.resolver.Resolve(ctx, q)
}

// appendD appends /d's JSON answer. ips and ipsv6 are always present; the family not asked for is [].
func appendD(b []byte, host string, client netip.Addr, fams families, a4, a6 *resolver.Answer) []byte {
	b = append(b, `{"host":`...)
	b = appendJSONString(b, host)
	b = append(b, `,"client_ip":"`...)
	b = client.AppendTo(b)
	b = append(b, `","ips":`...)
	b = appendIPs(b, a4.IPs)
	b = append(b, `,"ipsv6":`...)
	b = appendIPs(b, a6.IPs)
	ttl, origin, scope := dTTL(fams, a4, a6)
	b = appendKeyUint(b, "ttl", ttl)
	b = appendKeyUint(b, "origin_ttl", origin)
	if scope != "" {
		b = appendKeyString(b, "scope", scope)
	}
	return append(b, "}\n"...)
}

// dTTL picks the TTLs and scope /d reports. One family: that answer's. Both: the smaller non-zero
// TTL of the two (so the client asks again when either part expires) and the A answer's scope.
func dTTL(fams families, a4, a6 *resolver.Answer) (ttl, origin uint32, scope string) {
	switch {
	case fams.n == 2:
		return minNonZero(a4.TTL, a6.TTL), minNonZero(a4.OriginTTL, a6.OriginTTL), a4.Scope
	case fams.has(resolver.TypeAAAA):
		return a6.TTL, a6.OriginTTL, a6.Scope
	}
	return a4.TTL, a4.OriginTTL, a4.Scope
}

// minNonZero is the smaller of x and y, ignoring a zero.
func minNonZero(x, y uint32) uint32 {
	switch {
	case x == 0:
		return y
	case y == 0:
		return x
	}
	return min(x, y)
}
