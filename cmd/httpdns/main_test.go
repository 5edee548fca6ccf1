package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
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

// Help words after help (help -h, -h -h, help --help) used to make run call itself until the
// stack overflowed.
func TestRunHelpOfHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"help", "-h"}, {"-h", "-h"}, {"help", "--help"}, {"--help", "-help"}, {"help", "help"},
		{"-help", "help", "-h"}, {"help", "-h", "serve"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			if err := run(t.Context(), args, &stdout, &stderr); err != nil {
				t.Fatalf("run(%q) = %v, want nil", args, err)
			}
			if !strings.HasPrefix(stdout.String(), "httpdns answers DNS questions") || !strings.Contains(stdout.String(), "Commands:") {
				t.Errorf("run(%q) printed %q, want the usage", args, stdout.String())
			}
		})
	}
	for _, args := range [][]string{{"help", "frobnicate"}, {"-h", "-nope"}} {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), args, &stdout, &stderr); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
		if !strings.Contains(stderr.String(), "unknown command") || !strings.Contains(stderr.String(), "Commands:") {
			t.Errorf("run(%q) printed %q on stderr, want the problem and the usage", args, stderr.String())
		}
	}
}

func TestRunVersion(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"version", "-version", "--version"} {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), []string{arg}, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if !regexp.MustCompile(`^httpdns \S+( \(.*\))?\n$`).MatchString(stdout.String()) {
			t.Errorf("%s printed %q, want \"httpdns VERSION (DETAILS)\\n\"", arg, stdout.String())
		}
	}
}

func TestBuildOf(t *testing.T) {
	t.Parallel()
	info := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	vcs := []string{"vcs", "git", "vcs.revision", "0123abc", "vcs.time", "2026-03-01T10:00:00Z", "vcs.modified", "true"}
	tests := []struct {
		name     string
		stamped  string
		info     *debug.BuildInfo
		ok       bool
		want     buildInfo
		wantText string
	}{
		{"no build info", "", nil, false, buildInfo{Version: "devel"}, "devel"},
		{"go run", "", info("(devel)"), true, buildInfo{Version: "devel", Go: "go1.26.8"}, "devel (go1.26.8)"},
		{"go install of a tag", "", info("v1.2.3"), true,
			buildInfo{Version: "v1.2.3", Go: "go1.26.8"}, "v1.2.3 (go1.26.8)"},
		{"go build in a checkout", "", info("v0.0.0-20260301100000-0123abc+dirty", vcs...), true,
			buildInfo{Version: "v0.0.0-20260301100000-0123abc+dirty", Revision: "0123abc", Time: "2026-03-01T10:00:00Z", Modified: true, Go: "go1.26.8"},
			"v0.0.0-20260301100000-0123abc+dirty (revision 0123abc, 2026-03-01T10:00:00Z, modified, go1.26.8)"},
		{"clean checkout", "", info("(devel)", "vcs.revision", "0123abc", "vcs.modified", "false"), true,
			buildInfo{Version: "devel", Revision: "0123abc", Go: "go1.26.8"}, "devel (revision 0123abc, go1.26.8)"},
		{"linker stamp wins", "v2.0.0", info("v1.2.3", vcs...), true,
			buildInfo{Version: "v2.0.0", Revision: "0123abc", Time: "2026-03-01T10:00:00Z", Modified: true, Go: "go1.26.8"},
			"v2.0.0 (revision 0123abc, 2026-03-01T10:00:00Z, modified, go1.26.8)"},
		{"linker stamp alone", "v2.0.0", nil, false, buildInfo{Version: "v2.0.0"}, "v2.0.0"},
		{"empty build info", "", &debug.BuildInfo{}, true, buildInfo{Version: "devel"}, "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := buildOf(tt.stamped, tt.info, tt.ok)
			if got != tt.want {
				t.Errorf("buildOf = %+v, want %+v", got, tt.want)
			}
			if got.String() != tt.wantText {
				t.Errorf("String() = %q, want %q", got.String(), tt.wantText)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer that a logger may write from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServeLogsVersion(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	cfg, err := LoadConfig(writeTestConfig(t, w, t.TempDir(), addrsOf(servers), ""))
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err = serve(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), func(net.Addr, net.Addr) { cancel() })
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	line := regexp.MustCompile(`(?m)^.*msg=serving .*$`).FindString(logs.String())
	v := currentBuild().String()
	if !strings.Contains(line, "version="+strconv.Quote(v)) && !strings.Contains(line, "version="+v+" ") {
		t.Errorf("start-up line %q lacks version=%s", line, v)
	}
}
