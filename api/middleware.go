package api

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// errPanic stands for a recovered panic; it is logged with its stack and answered as a 500.
var errPanic = errors.New("panic serving request")

// route wraps h with what every endpoint shares: panic recovery, metrics, bearer authorisation when
// admin is set (checked before the method, so that an unauthorised caller learns nothing), and the
// method check against methods (none: any method). HEAD is listed wherever GET is: net/http drops the body.
func (a *API) route(ep endpoint, admin bool, h http.HandlerFunc, methods ...string) http.Handler {
	m := a.metrics.endpoint(ep)
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer a.finish(sw, r, m, time.Now())
		if admin {
			if err := a.authorize(r); err != nil {
				a.writeError(sw, r, err)
				return
			}
		}
		if len(methods) > 0 && !methodIn(r.Method, methods) {
			a.writeError(sw, r, errMethodNotAllowed(r.Method, allow))
			return
		}
		h(sw, r)
	})
}

// guard answers what must be refused before routing, on both listeners: a query string over
// MaxQueryBytes gets 414 URITooLong (counted under the "other" endpoint). The headers' size is
// net/http's to bound (NewServer). A GET or HEAD that announces a body is answered and its
// connection closed.
func (a *API) guard(next http.Handler) http.Handler {
	tooLong := a.route(epOther, false, func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, errURITooLong(len(r.URL.RawQuery)))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.RawQuery) > MaxQueryBytes {
			tooLong.ServeHTTP(w, r)
			return
		}
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.ContentLength != 0 || len(r.TransferEncoding) > 0) {
			// A GET with a body we never read: answer at once and close, rather than let net/http
			// wait for a body that may never come, before it answers and again before it closes.
			w.Header().Set("Connection", "close")
			_ = http.NewResponseController(w).SetReadDeadline(time.Now()) // unsupported: the read timeout still ends it
		}
		next.ServeHTTP(w, r)
	})
}

// finish runs deferred after every handler: it turns a panic into the generic 500 JSON answer and
// counts the request. A panic after the response has started cannot be answered cleanly: the
// connection is aborted instead, so the client doesn't take a truncated body for a whole one.
func (a *API) finish(w *statusWriter, r *http.Request, m *endpointMetrics, start time.Time) {
	if v := recover(); v != nil {
		if v == http.ErrAbortHandler {
			m.observe(w.code(), time.Since(start))
			panic(v)
		}
		err := a.recovered(v)
		if w.status != 0 {
			a.log.ErrorContext(r.Context(), "aborting response", "path", r.URL.Path, "err", err)
			m.observe(w.code(), time.Since(start))
			panic(http.ErrAbortHandler)
		}
		a.writeError(w, r, err)
	}
	m.observe(w.code(), time.Since(start))
}

// recovered logs a recovered panic value with the stack that raised it and returns errPanic wrapped.
func (a *API) recovered(v any) error {
	a.log.Error("recovered panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	return fmt.Errorf("%w: %v", errPanic, v)
}

func methodIn(method string, methods []string) bool {
	for _, m := range methods {
		if method == m {
			return true
		}
	}
	return false
}

// statusWriter remembers the status code of the response, for the metrics and for finish.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records code and passes it on.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and passes b on.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// code is the status the client got: net/http sends 200 when a handler writes nothing.
func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
