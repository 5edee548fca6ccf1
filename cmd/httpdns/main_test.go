package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

func TestRunHelpOfEachCommand(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"serve", "demo", "resolve", "probe", "cidrdb", "version"} {
		for _, flag := range []string{"-h", "-help", "--help"} {
			t.Run(cmd+flag, func(t *testing.T) {
				t.Parallel()
				var stdout, stderr bytes.Buffer
				if err := run(t.Context(), []string{cmd, flag}, &stdout, &stderr); err != nil {
					t.Fatalf("run(%s %s) = %v, want nil", cmd, flag, err)
				}
				if !strings.Contains(stderr.String(), "Usage: httpdns "+cmd) {
					t.Errorf("%s %s printed %q, want its usage", cmd, flag, stderr.String())
				}
			})
		}
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}} {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), args, &stdout, &stderr); err != nil {
			t.Fatalf("run(%q) = %v", args, err)
		}
		for _, cmd := range []string{"serve", "demo", "resolve", "probe", "cidrdb", "version", "help"} {
			if !regexp.MustCompile(`(?m)^  ` + cmd + ` +\S`).MatchString(stdout.String()) {
				t.Errorf("run(%q): usage lacks a line for %s:\n%s", args, cmd, stdout.String())
			}
		}
	}
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"help", "resolve"}, &stdout, &stderr); err != nil {
		t.Fatalf("help resolve: %v", err)
	}
	if !strings.Contains(stderr.String(), "Usage: httpdns resolve") {
		t.Errorf("help resolve printed %q, want the usage of resolve", stderr.String())
	}
}

func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string // on stderr
	}{
		{"no command", nil, "Commands:"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"resolve", "-nope"}, "flag provided but not defined: -nope"},
		{"version argument", []string{"version", "extra"}, `unexpected argument "extra"`},
		{"resolve without server", []string{"resolve", "a.example"}, "-server is required"},
		{"resolve without names", []string{"resolve", "-server", "http://127.0.0.1:1"}, "no NAME"},
		{"resolve bad server", []string{"resolve", "-server", "ftp://x", "a.example"}, "not an http:// or https:// URL"},
		{"resolve bad timeout", []string{"resolve", "-server", "x:1", "-timeout", "0s", "a.example"}, "-timeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if !errors.Is(err, errUsage) {
				t.Fatalf("run(%q) = %v, want a usage error", tt.args, err)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.want)
			}
		})
	}
}

func TestRunVersion(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"version"}, &stdout, &stderr); err != nil {
		t.Fatalf("version: %v", err)
	}
	if !regexp.MustCompile(`^httpdns \S+\n$`).MatchString(stdout.String()) {
		t.Errorf("version printed %q, want \"httpdns VERSION\\n\"", stdout.String())
	}
}

func TestVersionOf(t *testing.T) {
	t.Parallel()
	rev := func(settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "devel"},
		{"module version", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, true, "v1.2.3"},
		{"revision", rev("vcs.revision", "0123abc", "vcs.modified", "false"), true, "0123abc"},
		{"dirty revision", rev("vcs.modified", "true", "vcs.revision", "0123abc"), true, "0123abc+dirty"},
		{"nothing stamped", rev(), true, "devel"},
		{"empty version", &debug.BuildInfo{}, true, "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := versionOf(tt.info, tt.ok); got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
		})
	}
}
