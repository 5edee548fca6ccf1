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
	mux.Handle("/console/", a.route(epConsole, false, a.console.ServeHTTP, http.MethodGet, http.MethodHead))
	mux.Handle("/console/api/", a.route(epConsoleAPI, true, a.console.ServeHTTP))
}
