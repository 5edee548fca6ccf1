package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// short are timeouts small enough for a test to watch them act, with room between them so that
// which one acted is clear.
var short = ServerConfig{
	ReadHeaderTimeout: 200 * time.Millisecond,
	ReadTimeout:       300 * time.Millisecond,
	WriteTimeout:      2 * time.Second,
	IdleTimeout:       400 * time.Millisecond,
}

// startServer serves h with NewServer(h, cfg) on LimitListener(127.0.0.1:0, maxConns) and returns
// its address; the server is closed when the test ends.
func startServer(t *testing.T, h http.Handler, cfg ServerConfig, maxConns int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h, cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(LimitListener(ln, maxConns)) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// dial opens a raw TCP connection to addr, closed when the test ends.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads c until the server closes it and returns how long that took, failing the test
// if it is still open after limit (the read deadline: no sleeping).
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := c.SetReadDeadline(start.Add(limit)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, c)
	took := time.Since(start)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v", limit)
	}
	return took
}

// readResponse reads one response from br within limit.
func readResponse(t *testing.T, c net.Conn, br *bufio.Reader, limit time.Duration) *http.Response {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(limit)); err != nil {
		t.Fatal(err)
	}
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

func TestServerTimeouts(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	for _, h := range []struct {
		name string
		h    http.Handler
	}{{"public", ta.Public()}, {"admin", ta.Admin()}} {
		addr := startServer(t, h.h, short, 0)
		t.Run(h.name+"/body that never arrives", func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr)
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			// A GET takes no body: it is answered at once and the connection closed, rather than
			// held until the read timeout waiting for 10 bytes that never come.
			br := bufio.NewReader(c)
			if resp := readResponse(t, c, br, short.ReadTimeout/2); resp.StatusCode != 200 || !resp.Close {
				t.Fatalf("status %d, close %v: want a 200 that closes the connection", resp.StatusCode, resp.Close)
			}
			if took := closedWithin(t, c, 5*time.Second); took > short.ReadTimeout/2 {
				t.Errorf("closed after %v, want at once", took)
			}
		})
		if h.name == "admin" {
			t.Run(h.name+"/upload body that never arrives", func(t *testing.T) {
				t.Parallel()
				c := dial(t, addr)
				if _, err := io.WriteString(c, "PUT /admin/domains HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				// The handler reads the body: only ReadTimeout ends the wait.
				if took := closedWithin(t, c, 5*time.Second); took > short.ReadTimeout+time.Second {
					t.Errorf("closed after %v, want about the %v read timeout", took, short.ReadTimeout)
				}
			})
		}
		t.Run(h.name+"/headers that never end", func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr)
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
				t.Fatal(err)
			}
			if took := closedWithin(t, c, 5*time.Second); took > short.ReadHeaderTimeout+time.Second {
				t.Errorf("closed after %v, want about the %v header timeout", took, short.ReadHeaderTimeout)
			}
		})
		t.Run(h.name+"/idle keep-alive", func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr)
			br := bufio.NewReader(c)
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if resp := readResponse(t, c, br, 5*time.Second); resp.StatusCode != 200 || resp.Close {
				t.Fatalf("status %d, close %v: want a 200 that keeps the connection", resp.StatusCode, resp.Close)
			}
			if took := closedWithin(t, c, 5*time.Second); took > short.IdleTimeout+time.Second {
				t.Errorf("idle connection closed after %v, want about the %v idle timeout", took, short.IdleTimeout)
			}
		})
	}
}

func TestServerHeaderLimit(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	addr := startServer(t, ta.Public(), ServerConfig{}, 0)
	tests := []struct {
		name   string
		header int // bytes of one X-Pad header's value
		status int
	}{
		{"100 KiB", 100 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{"just over 64 KiB", MaxHeaderBytes, http.StatusRequestHeaderFieldsTooLarge},
		{"60 KiB", 60 << 10, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, addr)
			req := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", tt.header) + "\r\n\r\n"
			// Written aside: the server may answer and hang up before it has read everything.
			go io.WriteString(c, req)
			resp := readResponse(t, c, bufio.NewReader(c), 5*time.Second)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == http.StatusOK {
				return
			}
			// net/http's own answer, sent before any handler runs: plain text, and it hangs up.
			body, _ := io.ReadAll(resp.Body)
			if !resp.Close || !strings.Contains(string(body), "431") {
				t.Errorf("close %v, body %q: want net/http's 431 and a closed connection", resp.Close, body)
			}
		})
	}
}

func TestURITooLong(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{AdminToken: token, Whitelist: &memWhitelist{}})
	pad := func(n int) string {
		q := "host=a.example.com&pad="
		return q + strings.Repeat("x", n-len(q))
	}
	tests := []struct {
		name   string
		h      http.Handler
		target string
		status int
	}{
		{"public at the limit", ta.Public(), "/d?" + pad(MaxQueryBytes), 200},
		{"public over the limit", ta.Public(), "/d?" + pad(MaxQueryBytes+1), 414},
		{"resolve over the limit", ta.Public(), "/resolve?" + pad(64<<10), 414},
		{"unknown path over the limit", ta.Public(), "/nope?" + pad(MaxQueryBytes+1), 414},
		{"admin over the limit", ta.Admin(), "/admin/domains?" + pad(MaxQueryBytes+1), 414},
	}
	for _, tt := range tests { // not parallel: the metric is checked after them
		t.Run(tt.name, func(t *testing.T) {
			w := get(tt.h, tt.target, bearer("Bearer "+token))
			if tt.status == 200 {
				if w.Code != 200 {
					t.Errorf("status %d: %s", w.Code, w.Body)
				}
				return
			}
			if e := wantError(t, w, tt.status, CodeURITooLong); !strings.Contains(e.Message, "8192") {
				t.Errorf("message %q doesn't give the limit", e.Message)
			}
		})
	}
	if got := testutil.ToFloat64(ta.metrics.requests.WithLabelValues("other", "414")); got != 4 {
		t.Errorf(`httpdns_http_requests_total{endpoint="other",code="414"} = %v, want 4`, got)
	}
}

func TestLimitListener(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	const limit = 2
	addr := startServer(t, ta.Public(), ServerConfig{}, limit)
	ask := func(c net.Conn) error {
		_, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		return err
	}
	var open []net.Conn
	for range limit {
		c := dial(t, addr)
		if err := ask(c); err != nil {
			t.Fatal(err)
		}
		if resp := readResponse(t, c, bufio.NewReader(c), 5*time.Second); resp.StatusCode != 200 {
			t.Fatalf("connection %d: status %d", len(open)+1, resp.StatusCode)
		}
		open = append(open, c)
	}
	// Both connections stay open (keep-alive), so the next one waits in the accept queue: the kernel
	// completes its handshake, nobody reads its request.
	extra := dial(t, addr)
	if err := ask(extra); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(extra)
	extra.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection %d was served while %d were open (err %v)", limit+1, limit, err)
	}
	open[0].Close() // frees a place: the waiting connection is accepted and answered
	if resp := readResponse(t, extra, br, 5*time.Second); resp.StatusCode != 200 {
		t.Errorf("connection %d after one closed: status %d", limit+1, resp.StatusCode)
	}
}

func TestLimitListenerCloseWakesAccept(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ll := LimitListener(ln, 1)
	dial(t, ln.Addr().String())
	c, err := ll.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ll.Accept() // waits for a place that never frees
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	ll.Close()
	select {
	case err := <-accepted:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waiting 5 s after Close")
	}
}

func TestLimitListenerReleasesOnce(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ll := LimitListener(ln, 2)
	defer ll.Close()
	var conns []net.Conn
	for i := range 2 {
		dial(t, ln.Addr().String())
		c, err := ll.Accept()
		if err != nil {
			t.Fatalf("accept %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	conns[0].Close()
	conns[0].Close() // a second Close must not free the other connection's place
	if n := len(ll.(*limitListener).sem); n != 1 {
		t.Errorf("%d places held with one connection open, want 1", n)
	}
	conns[1].Close()
	if n := len(ll.(*limitListener).sem); n != 0 {
		t.Errorf("%d places held after every connection closed, want 0", n)
	}
	if got := LimitListener(ln, 0); got != ln {
		t.Error("LimitListener(ln, 0) wraps ln; want no limit")
	}
}

// TestBadInputOverTheWire sends hostile and broken requests to real servers of both handlers: each
// gets a 4xx, never a 500 or a hung connection. What reaches the handlers is answered in their JSON
// ({"code","message"}); what is not valid HTTP/1.1 at all (a broken request line or header, no
// Host, headers over MaxHeaderBytes) is answered by net/http itself in plain text before routing.
func TestBadInputOverTheWire(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{AdminToken: token, Whitelist: &memWhitelist{text: []byte("a.example.com subnet\n")}})
	public := startServer(t, ta.Public(), ServerConfig{}, 0)
	admin := startServer(t, ta.Admin(), ServerConfig{}, 0)
	auth := "Authorization: Bearer " + token + "\r\n"
	put := func(target, body string) string {
		return "PUT " + target + " HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	tests := []struct {
		name, addr, req string
		status          int
		code            string // "": net/http's plain-text answer
	}{
		{"no host", public, "GET /d HTTP/1.1\r\nHost: x\r\n\r\n", 400, CodeMissingArgument},
		{"bad host", public, "GET /d?host=a..b HTTP/1.1\r\nHost: x\r\n\r\n", 400, CodeInvalidHost},
		{"bad escape", public, "GET /d?host=%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, CodeInvalidHost},
		{"NUL in host", public, "GET /d?host=a%00.com HTTP/1.1\r\nHost: x\r\n\r\n", 400, CodeInvalidHost},
		{"bad ip", public, "GET /d?host=a.com&ip=1.2.3.999 HTTP/1.1\r\nHost: x\r\n\r\n", 400, CodeInvalidIP},
		{"bad query", public, "GET /d?host=a.com&query=7 HTTP/1.1\r\nHost: x\r\n\r\n", 400, CodeInvalidQuery},
		{"batch too big", public, "GET /resolve?host=" + strings.Repeat("a.com,", 11) + " HTTP/1.1\r\nHost: x\r\n\r\n", 400, CodeTooManyHosts},
		{"query string over 8 KiB", public, "GET /d?host=" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, CodeURITooLong},
		{"unknown path", public, "GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404, CodeNotFound},
		{"wrong method", public, "DELETE /d?host=a.com HTTP/1.1\r\nHost: x\r\n\r\n", 405, CodeMethodNotAllowed},
		{"admin without token", admin, "GET /admin/domains HTTP/1.1\r\nHost: x\r\n\r\n", 401, CodeUnauthorized},
		{"empty whitelist", admin, put("/admin/domains", ""), 400, CodeEmptyWhitelist},
		{"comments-only whitelist", admin, put("/admin/domains", "# later\n"), 400, CodeEmptyWhitelist},
		{"bad whitelist", admin, put("/admin/domains", "a.example.com warp\n"), 400, CodeInvalidWhitelist},
		{"whitelist over 1 MiB", admin, put("/admin/domains", strings.Repeat("# padding\n", MaxWhitelistBytes/10+1)), 413, CodePayloadTooLarge},
		{"admin query string over 8 KiB", admin, "GET /healthz?" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, CodeURITooLong},
		{"broken request line", public, "GET /d?host=a b HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"no Host header", public, "GET /healthz HTTP/1.1\r\n\r\n", 400, ""},
		{"broken header line", admin, "GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, ""},
		{"headers over 64 KiB", admin, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", 431, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, tt.addr)
			go io.WriteString(c, tt.req)
			resp := readResponse(t, c, bufio.NewReader(c), 5*time.Second)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.code == "" {
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !resp.Close {
					t.Errorf("Content-Type %q, close %v: want net/http's plain-text answer and a closed connection", ct, resp.Close)
				}
				return
			}
			var e errorBody
			if err := json.Unmarshal(body, &e); err != nil || e.Code != tt.code || e.Message == "" ||
				resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("body %s (%s), want JSON code %s with a message", body, resp.Header.Get("Content-Type"), tt.code)
			}
		})
	}
}
