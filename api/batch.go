package api

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/httpdns/httpdns/resolver"
)

// maxBatchParallel bounds the resolutions one /resolve request runs at once.
const maxBatchParallel = 8

// job is one (host, family) of a batch and its outcome.
type job struct {
	host  string
	qtype uint16
	ans   resolver.Answer
	err   error
}

// handleResolve serves GET /resolve?host=a,b[&ip=][&query=], the batch lookup:
//
//	{"dns":[{"host":"a","client_ip":"1.2.3.4","ips":["…"],"type":1,"ttl":N,"origin_ttl":N}, …]}
//
// One element per distinct host and family, hosts in request order, families in query= order. A
// resolution that fails while others succeed gives an element with "ips":[] and "error":CODE; if
// every one fails the request fails with the first error.
func (a *API) handleResolve(w http.ResponseWriter, r *http.Request) {
	a.answerBatch(w, r, parseParams(r.URL.RawQuery))
}

// answerBatch resolves every host for every family asked and writes /resolve's answer (which is
// also Alibaba v1's batch answer).
func (a *API) answerBatch(w http.ResponseWriter, r *http.Request, p params) {
	hosts, err := a.batchHosts(p.host)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	fams, client, err := a.commonArgs(r, p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	jobs := make([]job, 0, len(hosts)*fams.n)
	for _, h := range hosts {
		for _, qt := range fams.list() {
			jobs = append(jobs, job{host: h, qtype: qt})
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	a.runJobs(ctx, client, jobs)
	if err := allFailed(jobs); err != nil {
		a.writeError(w, r, err)
		return
	}
	buf := a.getBuf()
	b := a.appendBatch(*buf, r, client, jobs)
	a.writeJSON(w, http.StatusOK, b)
	a.putBuf(buf, b)
}

// batchHosts splits host= on commas. The limit counts hosts as listed, duplicates included, and is
// checked before any is validated; then the first invalid host fails the request. Duplicates (equal
// ignoring case and a trailing dot) are resolved and listed once, at their first position.
func (a *API) batchHosts(h param) ([]string, error) {
	switch {
	case h.val == "" && !h.bad:
		return nil, errMissingArgument("host")
	case h.bad:
		return nil, errInvalidHost(h.val)
	}
	if n := strings.Count(h.val, ",") + 1; n > a.batchLimit {
		return nil, errTooManyHosts(n, a.batchLimit)
	}
	hosts := strings.Split(h.val, ",")
	uniq := hosts[:0]
	for _, host := range hosts {
		if !validHost(host) {
			return nil, errInvalidHost(host)
		}
		if !containsHost(uniq, host) {
			uniq = append(uniq, host)
		}
	}
	return uniq, nil
}

func containsHost(hosts []string, host string) bool {
	c := canonicalHost(host)
	for _, h := range hosts {
		if canonicalHost(h) == c {
			return true
		}
	}
	return false
}

// runJobs resolves the jobs on at most maxBatchParallel goroutines, each taking the next job in turn.
func (a *API) runJobs(ctx context.Context, client netip.Addr, jobs []job) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(jobs), maxBatchParallel) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(jobs)); i = next.Add(1) - 1 {
				j := &jobs[i]
				j.ans, j.err = a.safeResolve(ctx, resolver.Query{Name: j.host, Qtype: j.qtype, Client: client})
				if j.err != nil {
					j.ans = resolver.Answer{} // a failed element lists no addresses and no TTL
				}
			}
		})
	}
	wg.Wait()
}

// allFailed returns the first job's error if every job failed, else nil.
func allFailed(jobs []job) error {
	for _, j := range jobs {
		if j.err == nil {
			return nil
		}
	}
	return jobs[0].err
}

// appendBatch appends /resolve's JSON answer.
func (a *API) appendBatch(b []byte, r *http.Request, client netip.Addr, jobs []job) []byte {
	b = append(b, `{"dns":[`...)
	for i := range jobs {
		if i > 0 {
			b = append(b, ',')
		}
		j := &jobs[i]
		b = append(b, `{"host":`...)
		b = appendJSONString(b, j.host)
		b = append(b, `,"client_ip":"`...)
		b = client.AppendTo(b)
		b = append(b, `","ips":`...)
		b = appendIPs(b, j.ans.IPs)
		b = appendKeyUint(b, "type", uint32(j.qtype))
		b = appendKeyUint(b, "ttl", j.ans.TTL)
		b = appendKeyUint(b, "origin_ttl", j.ans.OriginTTL)
		if j.ans.Scope != "" {
			b = appendKeyString(b, "scope", j.ans.Scope)
		}
		if j.err != nil {
			e := a.classify(r, j.err)
			a.metrics.countError(e.code)
			b = appendKeyString(b, "error", e.code)
		}
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}
