package api

import "net/http"

// The endpoint labels of the web console: its pages, and its data.
const (
	epConsole    endpoint = "console"
	epConsoleAPI endpoint = "console_api"
)

// mountConsole serves the web console (Config.Console) on the admin handler: its pages at
// /console/ without a token (they hold no data; a browser must load them to sign in), and its data
// at /console/api/ only with the admin bearer token, checked as for /admin/*.
func (a *API) mountConsole(mux *http.ServeMux) {
	if a.console == nil {
		return
	}
	mux.Handle("/console/", consoleHeaders(a.route(epConsole, false, a.console.ServeHTTP, http.MethodGet, http.MethodHead)))
	mux.Handle("/console/api/", consoleHeaders(a.route(epConsoleAPI, true, a.console.ServeHTTP)))
}

// consoleHeaders sets the console's own headers on what the api answers before the console sees the
// request (401 without the token, 405 on a page): never framed, never sniffed, never cached, no
// referrer. The console sets them, with its content policy, on everything it answers itself.
func consoleHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
