package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
)

// The hardened front of `serve`, seen from a raw TCP client: the config's timeouts and connection
// cap reach both listeners, and hostile requests get 4xx answers. The timeouts are short so that the
// test watches them act; every wait is a client-side deadline.

// frontConfig is the extra config of TestServeFront: timeouts in the hundreds of milliseconds and
// one connection per listener.
const frontConfig = `timeouts: {read_header: 100ms, read: 300ms, request: 200ms, upstream: 100ms, write: 1s, idle: 300ms}
max_conns: 1
`

func TestServeFront(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	s := startService(t, w, writeTestConfig(t, w, t.TempDir(), addrsOf(servers), frontConfig))
	listeners := map[string]string{
		"public": strings.TrimPrefix(s.public, "http://"),
		"admin":  strings.TrimPrefix(s.admin, "http://"),
	}
	// One connection per listener at a time (max_conns: 1): the subtests of a listener run in turn.
	for name, addr := range listeners {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("body that never arrives is cut", func(t *testing.T) {
				c := rawDial(t, addr)
				write(t, c, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
				if took := untilClosed(t, c, 5*time.Second); took > 1300*time.Millisecond {
					t.Errorf("closed after %v, want about the 300ms read timeout", took)
				}
			})
			t.Run("idle keep-alive is closed", func(t *testing.T) {
				c := rawDial(t, addr)
				br := bufio.NewReader(c)
				write(t, c, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
				if resp := rawResponse(t, c, br); resp.StatusCode != 200 || resp.Close {
					t.Fatalf("status %d close %v, want a kept-alive 200", resp.StatusCode, resp.Close)
				}
				if took := untilClosed(t, c, 5*time.Second); took > 1300*time.Millisecond {
					t.Errorf("idle connection closed after %v, want about the 300ms idle timeout", took)
				}
			})
			t.Run("100 KiB of headers get 431", func(t *testing.T) {
				c := rawDial(t, addr)
				go io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("a", 100<<10)+"\r\n\r\n")
				if resp := rawResponse(t, c, bufio.NewReader(c)); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
					t.Errorf("status %d, want 431", resp.StatusCode)
				}
			})
			t.Run("9 KiB query string gets 414 URITooLong", func(t *testing.T) {
				c := rawDial(t, addr)
				write(t, c, "GET /d?host=a.test&pad="+strings.Repeat("a", 9<<10)+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
				resp := rawResponse(t, c, bufio.NewReader(c))
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusRequestURITooLong || !strings.Contains(string(body), `"code":"URITooLong"`) {
					t.Errorf("%d %s, want 414 URITooLong", resp.StatusCode, body)
				}
			})
			t.Run("a second connection waits for the first", func(t *testing.T) {
				first := rawDial(t, addr)
				write(t, first, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
				if resp := rawResponse(t, first, bufio.NewReader(first)); resp.StatusCode != 200 {
					t.Fatalf("first: status %d", resp.StatusCode)
				}
				second := rawDial(t, addr)
				br := bufio.NewReader(second)
				write(t, second, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
				second.SetReadDeadline(time.Now().Add(150 * time.Millisecond)) // under the 300ms idle timeout
				if _, err := br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("the second connection was served while the first was open (err %v)", err)
				}
				first.Close()
				if resp := rawResponse(t, second, br); resp.StatusCode != 200 {
					t.Errorf("second after the first closed: status %d", resp.StatusCode)
				}
			})
		})
	}
}

func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// rawResponse reads one response within 5 s, its body buffered.
func rawResponse(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

// untilClosed reads c until the server closes it and returns how long that took; still open after
// limit fails the test.
func untilClosed(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v", limit)
	}
	return time.Since(start)
}

func TestServeReadyz(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 2)
	s := startService(t, w, writeTestConfig(t, w, t.TempDir(), addrsOf(servers), ""))
	for _, base := range []string{s.public, s.admin} {
		if code, body := get(t, base+"/readyz"); code != 200 || body["status"] != "ok" {
			t.Errorf("%s/readyz: %d %v, want 200 ok", base, code, body)
		}
	}
}

// TestServeReadyzFollowsUpstreams: with its only upstream node silent, /readyz turns 503 NotReady
// naming the upstreams (while /healthz stays 200), and 200 again once the node answers.
func TestServeReadyzFollowsUpstreams(t *testing.T) {
	t.Parallel()
	w, servers := startWorld(t, 1)
	s := startService(t, w, writeTestConfig(t, w, t.TempDir(), addrsOf(servers),
		"timeouts: {upstream: 100ms, request: 300ms, health_check: 100ms}\n"))
	ready := func(base string) (int, map[string]any) { return get(t, base+"/readyz") }
	if code, body := ready(s.public); code != 200 {
		t.Fatalf("/readyz with the node up: %d %v", code, body)
	}
	servers[0].SetBehavior(cdnsim.Silent)
	// Misses for ever new names time out on the node; the pool takes that as evidence against it.
	// Each miss lasts at most timeouts.request, so the requests themselves pace the wait.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		if code, _ := ready(s.public); code == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still 200 after %d misses against a silent node", i)
		}
		get(t, fmt.Sprintf("%s/d?host=n%d.cdn-a.test", s.public, i))
	}
	for _, base := range []string{s.public, s.admin} {
		code, body := ready(base)
		if code != 503 || body["code"] != "NotReady" || !strings.Contains(fmt.Sprint(body["message"]), "upstreams") {
			t.Errorf("%s/readyz: %d %v, want 503 NotReady naming the upstreams", base, code, body)
		}
		if code, _ := get(t, base+"/healthz"); code != 200 {
			t.Errorf("%s/healthz: %d while not ready, want 200 (liveness)", base, code)
		}
	}
	servers[0].SetBehavior(cdnsim.Normal)
	// The pool checks a failing node every health_check (100ms); a good answer brings it back.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for deadline = time.Now().Add(30 * time.Second); ; <-tick.C {
		if code, _ := ready(s.public); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 503 30 s after the node answers again")
		}
	}
}
