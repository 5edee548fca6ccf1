package api

import (
	"net/http"
	"strings"
)

// ReadyCheck is one condition /readyz requires, e.g. "the databases are loaded" or "an upstream
// node is in the ring". Check must be cheap and must not block: load balancers call /readyz every
// few seconds, on every node.
type ReadyCheck struct {
	// Name says what is checked ("databases", "upstreams"); it leads the check's error in the
	// 503 answer.
	Name string
	// Check returns nil when the condition holds, else why not. The error's text is served on the
	// public listener: it must not carry secrets.
	Check func() error
}

// handleReadyz serves GET /readyz: 200 {"status":"ok"} when every ReadyCheck passes, else
// 503 NotReady naming each failing check and why. /healthz says the process is alive (restart it
// if not); /readyz says it can answer (send it traffic if so).
func (a *API) handleReadyz(w http.ResponseWriter, r *http.Request) {
	var failed []string
	for _, c := range a.ready {
		if err := c.Check(); err != nil {
			failed = append(failed, c.Name+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		a.writeError(w, r, errNotReady(strings.Join(failed, "; ")))
		return
	}
	a.writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
}
