package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The exit status follows httpdns's: 0 for a request for help, 2 for a command line that cannot be
// used (after the usage), 1 for a fetch that fails (after saying why). Before, all three exited 2,
// and -h printed only the flags, not what the command takes.
func TestExitCode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"help", []string{"-h"}, 0, "Usage: httpdns-dial -server URL"},
		{"no URL", []string{"-server", "http://127.0.0.1:1"}, 2, "want at least one -server and one URL"},
		{"no server", []string{"https://localhost/"}, 2, "Usage: httpdns-dial"},
		{"unknown flag", []string{"-nope"}, 2, "flag provided but not defined: -nope"},
		// Port 1 on loopback refuses the connection, and the local resolver is off: the fetch fails.
		{"fetch fails", []string{"-server", "http://127.0.0.1:1", "-no-localdns", "-timeout", "5s",
			"http://localhost:1/"}, 1, "httpdns-dial: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := exitCode(run(context.Background(), tt.args, &stdout, &stderr), &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("httpdns-dial %q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr.String(),
					tt.code, tt.stderr)
			}
		})
	}
}
