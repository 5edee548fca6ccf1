package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/httpdns/httpdns/console"
)

// TestConsoleDataNeedsTokenWhateverThePath: the console's data is reached only through /console/api/
// with the token, however the path is spelled: escaped slashes and letters, dot segments, doubled
// slashes and other cases either reach the token check, are redirected to the clean path, or find no
// data (the pages' file server); none answers the overview's samples without the token.
func TestConsoleDataNeedsTokenWhateverThePath(t *testing.T) {
	t.Parallel()
	c, err := console.New(console.Config{Gatherer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	h := newTestAPI(t, Config{AdminToken: token, Console: c.Handler()}).Admin()
	if w := get(h, "/console/api/overview", bearer("Bearer "+token)); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"samples"`) {
		t.Fatalf("with the token: %d %s", w.Code, w.Body)
	}
	for _, path := range []string{
		"/console/api/overview", "/console/api%2Foverview", "/console/%61pi/overview", "/console//api/overview",
		"/console/./api/overview", "/console/x/../api/overview", "/console/API/overview", "/console/api/overview/",
		"/console/api/%6Fverview", "/console%2Fapi/overview", "/console/api/overview?x=/console/",
	} {
		w := get(h, path)
		if w.Code == http.StatusOK && strings.Contains(w.Body.String(), `"samples"`) {
			t.Errorf("%s without a token: %d %s", path, w.Code, w.Body)
		}
		if w.Code >= 500 {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
}
