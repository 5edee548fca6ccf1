package main

import (
	"errors"
	"io"
	"testing"
)

// wrkClean is wrk 4.1.0's output for a run without errors.
const wrkClean = `Running 10s test @ http://127.0.0.1:33303/d?host=img.cdn-a.test&ip=20.0.16.217
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms    1.31ms  28.36ms   89.12%
    Req/Sec    31.64k     2.07k   36.13k    71.50%
  629617 requests in 10.00s, 155.90MB read
Requests/sec:  62951.47
Transfer/sec:     15.59MB
`

func TestParseWrk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		out     string
		want    wrkResult
		wantErr error
	}{
		{"clean", wrkClean, wrkResult{rps: 62951.47, requests: 629617}, nil},
		{"timeouts are reported", "  1000 requests in 1.00s, 1MB read\n  Socket errors: connect 0, read 0, write 0, timeout 12\nRequests/sec:   1000.00\n",
			wrkResult{rps: 1000, requests: 1000, socketErrs: "Socket errors: connect 0, read 0, write 0, timeout 12"}, nil},
		{"non-2xx", "  2456 requests in 1.10s, 1.22MB read\n  Non-2xx or 3xx responses: 2456\nRequests/sec:   2233.29\n", wrkResult{}, errWrkOutput},
		{"no rate", "unable to connect to 127.0.0.1:18998 Connection refused\n", wrkResult{}, errWrkOutput},
		{"no request count", "Requests/sec:   1000.00\n", wrkResult{}, errWrkOutput},
		{"zero rate", "  0 requests in 1.00s, 0B read\nRequests/sec:      0.00\n", wrkResult{}, errWrkOutput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseWrk([]byte(tt.out))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"defaults", nil, false},
		{"fixed rate", []string{"-rate", "5000", "-latency-rounds", "0"}, false},
		{"zero duration", []string{"-duration", "0s"}, true},
		{"negative share", []string{"-rate-share", "-0.5"}, true},
		{"no connections", []string{"-latency-connections", "0"}, true},
		{"unknown flag", []string{"-nope"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseOptions(tt.args, io.Discard)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.name == "defaults" && (o.rateShare != 0.5 || o.latencyDuration.Seconds() != 10 || o.latencyConnections != 64) {
				t.Errorf("defaults %+v", o)
			}
		})
	}
}
