package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParseConfig checks that ParseConfig never panics and that a config it accepts is a
// fixpoint: marshalled back to YAML and parsed again, it is the same Config.
//
//	go test ./cmd/httpdns -run '^$' -fuzz FuzzParseConfig -fuzztime 30s
func FuzzParseConfig(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, seed := range []string{
		baseYAML,
		baseYAML + "cache: {max_bytes: 1GiB, stale_window: 48h}\nttl: {min: 0s, max: 2h}\n",
		baseYAML + `trusted_proxies: ["10.0.0.0/8", "::ffff:192.0.2.1", "2001:db8::/32"]`,
		baseYAML + "cidrdb: ../x.mmdb\ndomains: d.txt\ndefault_tier: global\nlog_level: WARN\n",
		baseYAML + "upstreams: [a:53]\n",
		"listen: [\n",
		"- a\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, testDir)
		if err != nil {
			return
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshalling %+v: %v", cfg, err)
		}
		again, err := ParseConfig(out, testDir)
		if err != nil {
			t.Fatalf("parsing the marshalled config:\n%s\nerror: %v", out, err)
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("not a fixpoint:\n first  %+v\n second %+v\nfrom\n%s", cfg, again, out)
		}
	})
}
