package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestConsoleConfig(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig([]byte(baseYAML), testDir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Console.SampleInterval != Duration(10*time.Second) || c.Console.Samples != 360 || c.Console.ProbeReport != "" {
		t.Errorf("defaults: %+v", c.Console)
	}
	c, err = ParseConfig([]byte(baseYAML+"console: {sample_interval: 1s, samples: 60, probe_report: r.json}\n"), testDir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Console.SampleInterval != Duration(time.Second) || c.Console.Samples != 60 || c.Console.ProbeReport != testDir+"/r.json" {
		t.Errorf("set: %+v", c.Console)
	}
	_, err = ParseConfig([]byte(baseYAML+"console: {sample_interval: 0s, samples: 1}\n"), testDir)
	if err == nil || !strings.Contains(err.Error(), "console.sample_interval") || !strings.Contains(err.Error(), "console.samples") {
		t.Errorf("bad values: %v", err)
	}
}

// TestServeConsole checks the console's wiring in serve without a browser: the page without a
// token, its data only with one, the overview sampling the service's own registry under traffic, a
// lookup through the real resolver, and an upload through the admin API in the history.
func TestServeConsole(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	path := writeTestConfig(t, w, t.TempDir(), addrsOf(servers),
		"domains: domains.txt\nconsole: {sample_interval: 100ms, samples: 50}\n")
	s := startService(t, w, path)

	resp, err := http.Get(s.admin + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<script src="console.js"`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("page: %d %v", resp.StatusCode, resp.Header)
	}
	if code, _ := get(t, s.admin+"/console/api/overview"); code != 401 {
		t.Errorf("overview without a token: %d", code)
	}

	c := w.ClientIn(w.Subnets()[0], 1)
	if code, body := put(t, s.admin+"/admin/domains", "secret", "img.cdn-a.test subnet\n"); code != 200 {
		t.Fatalf("upload: %d %v", code, body)
	}
	for range 20 {
		get(t, s.public+"/d?host=img.cdn-a.test&ip="+c.String())
	}
	// The overview is the service's own registry, sampled: poll until a sample holds the requests.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, ov := get(t, s.admin+"/console/api/overview", "Authorization", "Bearer secret")
		samples, _ := ov["samples"].([]any)
		var reqs float64
		for _, x := range samples {
			sm := x.(map[string]any)
			reqs += sm["rps"].(float64) * sm["seconds"].(float64)
		}
		if reqs >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sample counted the 20 requests: %v", ov)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, lk := get(t, s.admin+"/console/api/lookup?name=img.cdn-a.test&client="+c.String(), "Authorization", "Bearer secret")
	cached, _ := lk["cached"].(map[string]any)
	if lk["tier"] != "subnet" || lk["rule"] != "img.cdn-a.test" || cached == nil || cached["state"] != "fresh" || lk["agree"] != true {
		t.Errorf("lookup: %v", lk)
	}
	_, h := get(t, s.admin+"/console/api/history", "Authorization", "Bearer secret")
	if wl, _ := h["whitelist"].([]any); len(wl) != 1 || wl[0].(map[string]any)["size"] != float64(len("img.cdn-a.test subnet\n")) {
		t.Errorf("history: %v", h)
	}
}
