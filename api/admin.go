package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/httpdns/httpdns/cache"
	"github.com/httpdns/httpdns/resolver"
)

// authorize checks the bearer token of an /admin/* request (RFC 6750 §2.1; the scheme is
// case-insensitive). The token is compared as a SHA-256 digest in constant time, so neither its
// content nor its length leaks through timing.
func (a *API) authorize(r *http.Request) error {
	if a.tokenHash == nil {
		return errAdminDisabled()
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errUnauthorized()
	}
	sum := sha256.Sum256([]byte(strings.TrimLeft(token, " ")))
	if subtle.ConstantTimeCompare(sum[:], a.tokenHash[:]) != 1 {
		return errUnauthorized()
	}
	return nil
}

// handleDomains serves GET /admin/domains (the whitelist text) and PUT /admin/domains (replace it
// with the body, at most MaxWhitelistBytes). Validating, persisting and applying are the
// Whitelist's: a bad line comes back as a *resolver.ParseError, answered 400 InvalidWhitelist with its
// line number, and the old whitelist stays. A body without rules (empty, or only blank lines and
// comments) would silently demote every priority domain, as a truncated file or an empty variable
// in a script would: it is refused with 400 EmptyWhitelist unless the request says allow_empty=1.
func (a *API) handleDomains(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		w.Header()["Content-Type"] = a.ctText
		_, _ = w.Write(a.whitelist.Text())
		return
	}
	if r.ContentLength > MaxWhitelistBytes {
		a.writeError(w, r, errPayloadTooLarge(MaxWhitelistBytes))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWhitelistBytes))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if !allowEmpty(r) && noRules(body) {
		a.writeError(w, r, errEmptyWhitelist())
		return
	}
	if err := a.whitelist.Replace(body); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "whitelist replaced", "bytes", len(body))
	a.writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
}

// allowEmpty reports whether a PUT /admin/domains asks to empty the whitelist: allow_empty=1 (or
// true) in the query string.
func allowEmpty(r *http.Request) bool {
	v := r.URL.Query().Get("allow_empty")
	return v == "1" || strings.EqualFold(v, "true")
}

// noRules reports whether a whitelist text has no rule: every line is blank or a comment. It reads
// the text with the whitelist's own parser; a text that doesn't parse is left to Replace, which
// reports its bad lines.
func noRules(text []byte) bool {
	p, err := resolver.ParsePolicy(text, cache.TierCityISP) // the default tier doesn't change the rules
	return err == nil && p.Len() == 0
}

// handleCIDRDBReload serves POST /admin/cidrdb/reload: open the databases again and swap them in. A
// rejected file answers 422 InvalidCIDRDB with the reason, and the old databases keep serving.
func (a *API) handleCIDRDBReload(w http.ResponseWriter, r *http.Request) {
	if err := a.cidrdb.Reload(); err != nil {
		a.writeError(w, r, errInvalidCIDRDB(err))
		return
	}
	a.log.InfoContext(r.Context(), "cidrdb reloaded on request")
	a.writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
}

// handleHealthz serves GET /healthz: the process is up and serving HTTP.
func (a *API) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	a.writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
}

// handleNotFound answers every path no endpoint claims, in JSON like every other error.
func (a *API) handleNotFound(w http.ResponseWriter, r *http.Request) {
	a.writeError(w, r, errNotFound())
}

// metricsHandler serves the Gatherer in the Prometheus exposition formats. A collector that fails
// doesn't hide the others: its error is logged and the rest are served.
func (a *API) metricsHandler() http.HandlerFunc {
	h := promhttp.HandlerFor(a.gatherer, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(a.log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
	return h.ServeHTTP
}
