package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/httpdns/httpdns/resolver"
)

// Error codes of the JSON error body {"code","message"}. They are part of the public interface
// (Alibaba Cloud HTTPDNS uses the same names where it has them).
const (
	// CodeMissingArgument (400): host is absent or empty.
	CodeMissingArgument = "MissingArgument"
	// CodeInvalidHost (400): a host is not a valid DNS host name.
	CodeInvalidHost = "InvalidHost"
	// CodeInvalidIP (400): ip= is not an IPv4 or IPv6 address without zone.
	CodeInvalidIP = "InvalidIP"
	// CodeInvalidQuery (400): query= is not 4, 6, 4,6 or 6,4.
	CodeInvalidQuery = "InvalidQuery"
	// CodeTooManyHosts (400): /resolve named more hosts than the batch limit.
	CodeTooManyHosts = "TooManyHosts"
	// CodeMethodNotAllowed (405): the endpoint doesn't take this method; the Allow header lists those it does.
	CodeMethodNotAllowed = "MethodNotAllowed"
	// CodeTooManyRequests (429): the client sent more than limits.client_qps; Retry-After says when
	// to try again.
	CodeTooManyRequests = "TooManyRequests"
	// CodeNotFound (404): no such endpoint.
	CodeNotFound = "NotFound"
	// CodeUnauthorized (401): the bearer token of /admin/* is missing or wrong.
	CodeUnauthorized = "Unauthorized"
	// CodeAdminDisabled (403): no admin token is configured, so /admin/* is off.
	CodeAdminDisabled = "AdminDisabled"
	// CodeInvalidWhitelist (400): an uploaded whitelist has a bad line; the message names it.
	CodeInvalidWhitelist = "InvalidWhitelist"
	// CodeInvalidCIDRDB (422): a CIDRDB reload was rejected; the old one keeps serving.
	CodeInvalidCIDRDB = "InvalidCIDRDB"
	// CodePayloadTooLarge (413): an uploaded whitelist is over MaxWhitelistBytes.
	CodePayloadTooLarge = "PayloadTooLarge"
	// CodeEmptyWhitelist (400): an uploaded whitelist has no rules and the upload did not say
	// allow_empty=1, so the whitelist is not wiped by mistake.
	CodeEmptyWhitelist = "EmptyWhitelist"
	// CodeURITooLong (414): the query string is over MaxQueryBytes.
	CodeURITooLong = "URITooLong"
	// CodeNotReady (503): /readyz found a check failing; the message names each.
	CodeNotReady = "NotReady"
	// CodeUpstreamUnavailable (503): every upstream failed with nothing stale to serve, or the deadline passed.
	CodeUpstreamUnavailable = "UpstreamUnavailable"
	// CodeUpstreamBusy (503): too many upstream queries were in flight (upstream_max_inflight) for this
	// miss to wait for, and nothing stale was cached; retrying shortly may succeed.
	CodeUpstreamBusy = "UpstreamBusy"
	// CodeClientClosedRequest (499): the client went away first; counted, never seen.
	CodeClientClosedRequest = "ClientClosedRequest"
	// CodeVersionConflict (409): the fleet's shared whitelist was changed by another node since this
	// node applied it; the message names the current version. Nothing was changed: retry after the
	// node has caught up (GET /admin/domains shows what it holds).
	CodeVersionConflict = "VersionConflict"
	// CodeFleetUnavailable (503): the fleet's Redis could not be reached, so a shared change was not
	// made; the node's whitelist is unchanged.
	CodeFleetUnavailable = "FleetUnavailable"
	// CodeInternalError (500): anything else; the message says nothing more, the log says it all.
	CodeInternalError = "InternalError"
)

// StatusClientClosedRequest is the status counted when the client went away before its answer was
// ready (nginx's 499); the client never sees it.
const StatusClientClosedRequest = 499

// maxEcho bounds how much of a client's bad input an error message repeats.
const maxEcho = 256

// apiError is an error with its HTTP status and JSON code, made by the handlers for bad requests.
type apiError struct {
	status int
	code   string
	msg    string
	allow  string // the Allow header of a 405
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errMissingArgument(name string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeMissingArgument,
		msg: fmt.Sprintf("missing argument %q", name)}
}

func errInvalidHost(host string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeInvalidHost,
		msg: "invalid host " + quoteEcho(host)}
}

func errInvalidIP(ip string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeInvalidIP,
		msg: "invalid ip " + quoteEcho(ip) + ": want an IPv4 or IPv6 address without zone"}
}

func errInvalidQuery(q string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeInvalidQuery,
		msg: "invalid query " + quoteEcho(q) + ": want 4, 6 or 4,6"}
}

func errTooManyHosts(n, limit int) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeTooManyHosts,
		msg: fmt.Sprintf("too many hosts: %d, at most %d", n, limit)}
}

func errMethodNotAllowed(method, allow string) *apiError {
	return &apiError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed,
		msg: "method " + quoteEcho(method) + " not allowed: use " + allow, allow: allow}
}

func errNotFound() *apiError {
	return &apiError{status: http.StatusNotFound, code: CodeNotFound, msg: "no such endpoint"}
}

func errUnauthorized() *apiError {
	return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized,
		msg: "missing or wrong bearer token"}
}

func errAdminDisabled() *apiError {
	return &apiError{status: http.StatusForbidden, code: CodeAdminDisabled,
		msg: "the admin API is disabled: no admin token is configured"}
}

func errPayloadTooLarge(limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: CodePayloadTooLarge,
		msg: "body larger than " + strconv.FormatInt(limit, 10) + " bytes"}
}

func errEmptyWhitelist() *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeEmptyWhitelist,
		msg: "the upload has no rules and would empty the whitelist; to empty it, PUT with ?allow_empty=1"}
}

func errURITooLong(n int) *apiError {
	return &apiError{status: http.StatusRequestURITooLong, code: CodeURITooLong,
		msg: fmt.Sprintf("query string of %d bytes, at most %d", n, MaxQueryBytes)}
}

func errNotReady(why string) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: CodeNotReady, msg: "not ready: " + why}
}

func errInvalidCIDRDB(err error) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: CodeInvalidCIDRDB,
		msg: "reload rejected, the current CIDRDB keeps serving: " + err.Error()}
}

// VersionConflictError is what a shared document's upload (the whitelist's Replace, an
// AccountsPublisher) returns when the fleet's version moved on since the node applied it: 409
// VersionConflict naming Current.
type VersionConflictError struct {
	// Kind is the document: "whitelist" (also when empty), "accounts".
	Kind string
	// Current is the version the fleet holds.
	Current int64
}

func (e *VersionConflictError) Error() string {
	kind := e.Kind
	if kind == "" {
		kind = "whitelist"
	}
	return fmt.Sprintf("the %s was changed on another node: the current version is %d", kind, e.Current)
}

// ErrFleetUnavailable is wrapped by a shared document's upload when the shared store cannot be
// reached: 503 FleetUnavailable, and the document stays as it was.
var ErrFleetUnavailable = errors.New("the fleet's redis is unreachable")

// classify maps err to the status, code and message the client gets. Anything it doesn't know is an
// internal error: the client learns nothing about it, the log gets it whole.
func (a *API) classify(r *http.Request, err error) *apiError {
	var (
		ae  *apiError
		mbe *http.MaxBytesError
		vce *VersionConflictError
	)
	if pes := parseErrors(err, nil); len(pes) > 0 {
		return &apiError{status: http.StatusBadRequest, code: CodeInvalidWhitelist, msg: strings.Join(pes, "; ")}
	}
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return errPayloadTooLarge(mbe.Limit)
	case errors.As(err, &vce):
		return &apiError{status: http.StatusConflict, code: CodeVersionConflict,
			msg: vce.Error() + "; nothing was changed: upload again once this node has it"}
	case errors.Is(err, ErrFleetUnavailable):
		return &apiError{status: http.StatusServiceUnavailable, code: CodeFleetUnavailable,
			msg: "the fleet's redis is unreachable: nothing was changed on any node"}
	case errors.Is(err, resolver.ErrInvalidName):
		return &apiError{status: http.StatusBadRequest, code: CodeInvalidHost, msg: "invalid host name"}
	case errors.Is(err, resolver.ErrUpstreamBusy):
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUpstreamBusy,
			msg: "too many upstream queries in flight; retry shortly"}
	case errors.Is(err, resolver.ErrUpstreamUnavailable):
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUpstreamUnavailable,
			msg: "every upstream failed and no stale answer is cached"}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUpstreamUnavailable,
			msg: "resolution timed out"}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return &apiError{status: StatusClientClosedRequest, code: CodeClientClosedRequest,
			msg: "client closed the request"}
	}
	if !errors.Is(err, errPanic) { // a panic was logged with its stack where it was recovered
		a.log.ErrorContext(r.Context(), "serving request", "path", r.URL.Path, "err", err)
	}
	return &apiError{status: http.StatusInternalServerError, code: CodeInternalError, msg: "internal error"}
}

// writeError answers the request with err's status and JSON body {"code","message"} and counts it.
// It is the one place errors become HTTP responses.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := a.classify(r, err)
	a.metrics.countError(e.code)
	h := w.Header()
	if e.allow != "" {
		h.Set("Allow", e.allow)
	}
	if e.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="httpdns admin"`)
	}
	buf := a.getBuf()
	b := append(*buf, `{"code":`...)
	b = appendJSONString(b, e.code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.msg)
	b = append(b, "}\n"...)
	a.writeJSON(w, e.status, b)
	a.putBuf(buf, b)
}

// parseErrors appends the text of every *resolver.ParseError in err's tree, in order: the whitelist
// reports all its bad lines joined, so that an operator can fix an upload in one go.
func parseErrors(err error, out []string) []string {
	switch e := err.(type) {
	case *resolver.ParseError:
		return append(out, e.Error())
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			out = parseErrors(inner, out)
		}
	case interface{ Unwrap() error }:
		return parseErrors(e.Unwrap(), out)
	}
	return out
}

// quoteEcho quotes the start of a client's input for an error message.
func quoteEcho(s string) string {
	if len(s) > maxEcho {
		return strconv.Quote(s[:maxEcho]) + "..."
	}
	return strconv.Quote(s)
}
