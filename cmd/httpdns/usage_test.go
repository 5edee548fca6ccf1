package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// Each command's synopsis (the usage's first lines, up to the first blank line) names every flag
// the command takes, so "httpdns COMMAND -h" and the README's Commands list, copied from them,
// cannot leave one out.
func TestUsageSynopsisNamesEveryFlag(t *testing.T) {
	t.Parallel()
	flagLine := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
	for _, args := range [][]string{
		{"serve"}, {"demo"}, {"resolve"}, {"probe"},
		{"cidrdb", "build"}, {"cidrdb", "inspect"}, {"cidrdb", "diff"}, {"cidrdb", "publish"},
	} {
		name := strings.Join(args, " ")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if err := run(t.Context(), append(args, "-h"), &stdout, &stderr); err != nil {
				t.Fatalf("run(%s -h) = %v", name, err)
			}
			help := stderr.String()
			synopsis, _, _ := strings.Cut(help, "\n\n")
			if !strings.HasPrefix(synopsis, "Usage: httpdns "+name) {
				t.Fatalf("%s -h starts %q, want its usage", name, synopsis)
			}
			flags := flagLine.FindAllStringSubmatch(help, -1)
			if len(flags) == 0 {
				t.Fatalf("%s -h lists no flags:\n%s", name, help)
			}
			for _, f := range flags {
				if !regexp.MustCompile(`\[?-` + regexp.QuoteMeta(f[1]) + `\b`).MatchString(synopsis) {
					t.Errorf("%s: the synopsis does not name -%s:\n%s", name, f[1], synopsis)
				}
			}
		})
	}
}

// "httpdns serve -h" names every admin endpoint the README's Admin API section shows.
func TestServeUsageNamesAdminEndpoints(t *testing.T) {
	t.Parallel()
	_, section, ok := strings.Cut(readme(t), "\n### Admin API\n")
	if !ok {
		t.Fatal("README has no Admin API section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"serve", "-h"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	paths := regexp.MustCompile(`/admin/[a-z/]*[a-z]`).FindAllString(section, -1)
	if len(paths) < 5 {
		t.Fatalf("found %d admin paths in the README's Admin API section", len(paths))
	}
	for _, p := range paths {
		if !strings.Contains(stderr.String(), p) {
			t.Errorf("serve -h does not name %s", p)
		}
	}
}
