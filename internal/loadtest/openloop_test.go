package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func farDeadline() time.Time {
	return time.Now().Add(10 * time.Second)
}

// slowServer answers every request after work, like a server that can do only
// connections/work requests a second.
func slowServer(t *testing.T, work time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(work)
		w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/d"
}

// TestOpenLoopChargesQueueing offers a server twice the rate it can answer. Each answer takes
// 20 ms, but requests queue behind each other, and latency counted from the due time must show
// that queueing: a closed-loop tool would report about 20 ms throughout.
func TestOpenLoopChargesQueueing(t *testing.T) {
	t.Parallel()
	const work = 20 * time.Millisecond
	l := openLoop{url: slowServer(t, work), rate: 200, warmup: 0, duration: 500 * time.Millisecond,
		connections: 2, timeout: 10 * time.Second} // capacity: 2 / 20 ms = 100 req/s
	recs, err := l.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s := summarize(recs, l)
	if s.failed != 0 || s.ok != 100 {
		t.Fatalf("ok %d failed %d, want 100 and 0", s.ok, s.failed)
	}
	// Request i is due at i×5 ms and answered at about (i/2+1)×20 ms: the last waits ~0.5 s.
	if p99 := s.q[2]; p99 < 300*time.Millisecond {
		t.Errorf("p99 %v: queueing behind the slow answers was not charged", p99)
	}
	if s.achieved > 130 {
		t.Errorf("achieved %.0f req/s from a server that can do 100", s.achieved)
	}
	// The service time of each request (sent to done) stays near the work.
	for i, r := range recs {
		if service := time.Duration(r.done - r.sent); service > 10*work {
			t.Errorf("request %d took %v from sending, want about %v", i, service, work)
			break
		}
	}
}

// TestOpenLoopWithinCapacity offers a quarter of what the server can do: latency stays near the
// work and the schedule is kept.
func TestOpenLoopWithinCapacity(t *testing.T) {
	t.Parallel()
	const work = 5 * time.Millisecond
	l := openLoop{url: slowServer(t, work), rate: 200, warmup: 100 * time.Millisecond, duration: 500 * time.Millisecond,
		connections: 4, timeout: 10 * time.Second} // capacity: 4 / 5 ms = 800 req/s
	recs, err := l.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 120 {
		t.Fatalf("%d requests sent, want 120 (0.6 s at 200 req/s)", len(recs))
	}
	s := summarize(recs, l)
	if s.failed != 0 || s.ok != 100 {
		t.Fatalf("ok %d failed %d, want 100 measured and 0", s.ok, s.failed)
	}
	if p50 := s.q[0]; p50 < work || p50 > 10*work {
		t.Errorf("p50 %v, want between %v and %v", p50, work, 10*work)
	}
	if s.achieved < 150 || s.achieved > 250 {
		t.Errorf("achieved %.0f req/s, want about 200", s.achieved)
	}
}

// TestOpenLoopFailures counts answers other than 200 and requests past their timeout as
// failures, not as latencies.
func TestOpenLoopFailures(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	l := openLoop{url: srv.URL, rate: 100, duration: 200 * time.Millisecond, connections: 2, timeout: time.Second}
	recs, err := l.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := summarize(recs, l); s.ok != 0 || s.failed != 20 {
		t.Errorf("ok %d failed %d, want 0 and 20", s.ok, s.failed)
	}
	slow := openLoop{url: slowServer(t, 300*time.Millisecond), rate: 100, duration: 200 * time.Millisecond,
		connections: 1, timeout: 100 * time.Millisecond}
	recs, err = slow.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s := summarize(recs, slow); s.ok != 0 || s.failed != 20 {
		t.Errorf("past timeout: ok %d failed %d, want 0 and 20", s.ok, s.failed)
	}
}

func TestOpenLoopUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	l := openLoop{url: url, rate: 10, duration: 100 * time.Millisecond, connections: 1, timeout: time.Second}
	if _, err := l.run(context.Background()); err == nil {
		t.Error("run against a closed port succeeded")
	}
}

func TestRequestBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, wantReq, wantAddr string
		wantErr                bool
	}{
		{"http://127.0.0.1:8080/d?host=a.test&ip=1.2.3.4", "GET /d?host=a.test&ip=1.2.3.4 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n", "127.0.0.1:8080", false},
		{"http://127.0.0.1:8080", "GET / HTTP/1.1\r\n", "127.0.0.1:8080", false},
		{"https://127.0.0.1:8443/d", "", "", true},
		{"http://127.0.0.1/d", "", "", true},
		{"::", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			req, addr, err := requestBytes(tt.url)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if addr != tt.wantAddr || string(req[:len(tt.wantReq)]) != tt.wantReq || string(req[len(req)-4:]) != "\r\n\r\n" {
				t.Errorf("got %q to %s", req, addr)
			}
		})
	}
}
