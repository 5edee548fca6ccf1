package demoproc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDemoAndServe builds httpdns, starts the demo and a serve beside it, and asks both the
// warmed question.
func TestDemoAndServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs httpdns")
	}
	t.Parallel()
	ctx := context.Background()
	d, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Serve(ctx)
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	for _, u := range []string{d.URL, p.URL} {
		body := mustGet(t, u)
		if !strings.Contains(body, `"host":"img.cdn-a.test"`) || !strings.Contains(body, `"ips":["`) {
			t.Errorf("%s answered %s", u, body)
		}
	}
	if d.URL == p.URL {
		t.Errorf("demo and serve share %s", d.URL)
	}
	pids := []int{d.PID(), p.PID()}
	p.Stop()
	d.Close()
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("process %d still there after stopping: %v", pid, err)
		}
	}
	if _, err := os.Stat(d.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind: %v", d.Dir, err)
	}
}

func mustGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
