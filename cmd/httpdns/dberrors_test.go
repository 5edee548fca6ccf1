package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/prometheus/client_golang/prometheus"
)

// A missing database must be reported by its own role and path: a missing City database used to
// read "opening cidrdb .../world-city.mmdb", sending the operator to the wrong file.
func TestServeNamesTheMissingDatabase(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	tests := []struct {
		name    string
		missing string // the file removed after the config is written
		extra   string // more config
		want    string // the role the error must name
	}{
		{"city", cdnsim.CityDBName, "", "geoip.city"},
		{"isp", cdnsim.ISPDBName, "", "geoip.isp"},
		{"cidrdb", "learnt.mmdb", "cidrdb: learnt.mmdb\n", "cidrdb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := writeTestConfig(t, w, dir, addrsOf(servers), tt.extra)
			missing := filepath.Join(dir, tt.missing)
			if err := os.Remove(missing); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			svc, err := newService(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), reg, reg)
			if err == nil {
				svc.close()
				t.Fatalf("newService started without %s", missing)
			}
			msg := err.Error()
			if !strings.Contains(msg, "opening "+tt.want+" "+missing) {
				t.Errorf("error %q, want it to say \"opening %s %s\"", msg, tt.want, missing)
			}
			for _, other := range []string{"geoip.city", "geoip.isp", "cidrdb"} {
				if other != tt.want && strings.Contains(msg, other) {
					t.Errorf("error %q names %s, but only %s is missing", msg, other, tt.want)
				}
			}

			// The same words reach the operator through "httpdns serve".
			var stdout, stderr bytes.Buffer
			err = run(t.Context(), []string{"serve", "-config", path}, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), "opening "+tt.want+" "+missing) {
				t.Errorf("serve = %v, want it to name %s %s", err, tt.want, missing)
			}
		})
	}
}
