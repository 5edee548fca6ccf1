package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/httpdns/httpdns/client"
)

// nameCert makes a CA-signed-by-itself certificate for names only: no IP address in its SAN, so
// it verifies only against a host name.
func nameCert(t testing.TB, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		DNSNames: names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// listenOn listens on 127.0.0.3 (the live edge of two.client.test) on a port free on 127.0.0.2
// too, which stays closed: the dead edge refuses.
func listenOn(t testing.TB) (net.Listener, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return l, port
}

// closingEdge is listenOn's edge accepting and closing every connection until the test ends; it
// returns the port.
func closingEdge(t testing.TB) string {
	t.Helper()
	l, port := listenOn(t)
	t.Cleanup(func() { l.Close() })
	acceptEach(l, closeConn)
	return port
}

// acceptEach hands every connection l accepts to handle, in one goroutine, until l is closed.
func acceptEach(l net.Listener, handle func(net.Conn)) {
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			handle(conn)
		}
	}()
}

func closeConn(conn net.Conn) { conn.Close() }

// dialLog records the client's dial events (its Hooks.Dial), from the dials' goroutines.
type dialLog struct {
	mu     sync.Mutex
	events []client.DialEvent
}

func (d *dialLog) Record(ev client.DialEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, ev)
}

func (d *dialLog) Events() []client.DialEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.events)
}

// Attempts returns each dial's number of connection attempts.
func (d *dialLog) Attempts() []int {
	var n []int
	for _, ev := range d.Events() {
		n = append(n, ev.Attempts)
	}
	return n
}

// TestTransportTLSByName fetches over HTTPS from an edge whose certificate names only the host:
// through the client's Transport the TCP connection goes to the IP while SNI, verification and
// Host use the name, and succeeds past the dead first address; the control, the IP in the URL,
// fails verification.
func TestTransportTLSByName(t *testing.T) {
	t.Parallel()
	s := startService(t)
	cert, pool := nameCert(t, "two.client.test", "web.client.test")
	l, port := listenOn(t)
	var mu sync.Mutex
	var seen []string // SNI and Host of each request served
	edge := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.TLS.ServerName+" "+r.Host)
		mu.Unlock()
		io.WriteString(w, "hello from "+r.Context().Value(http.LocalAddrContextKey).(net.Addr).String())
	}))
	edge.Listener.Close()
	edge.Listener = l
	edge.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	edge.Config.ErrorLog = log.New(io.Discard, "", 0) // the control's refused handshake
	edge.StartTLS()
	t.Cleanup(edge.Close)

	var dials dialLog
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true,
		TLSConfig: &tls.Config{RootCAs: pool}, Hooks: client.Hooks{Dial: dials.Record}})
	hc := &http.Client{Transport: c.Transport(), Timeout: 10 * time.Second}
	var remote string
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { remote = ci.Conn.RemoteAddr().String() }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet,
		"https://two.client.test:"+port+"/", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("through the client: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "127.0.0.3:" + port; remote != want || string(body) != "hello from "+want {
		t.Errorf("connected to %s, body %q; want %s", remote, body, want)
	}
	mu.Lock()
	if want := []string{"two.client.test two.client.test:" + port}; !slices.Equal(seen, want) {
		t.Errorf("SNI and Host seen: %q, want %q", seen, want)
	}
	mu.Unlock()
	if evs := dials.Events(); len(evs) != 1 || evs[0].Attempts != 2 || evs[0].Source != client.SourceServer ||
		evs[0].Addr.String() != "127.0.0.3:"+port {
		t.Errorf("dial events: %+v, want one of 2 attempts ending at 127.0.0.3", evs)
	}
	if got := c.Failed(); !slices.Equal(got, addrs("127.0.0.2")) {
		t.Errorf("Failed() = %v, want the dead edge", got)
	}

	// The control: the IP in the URL. The same trust, no client: the certificate names no IP.
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	_, err = plain.Get("https://127.0.0.3:" + port + "/")
	var hostErr x509.HostnameError
	if !errors.As(err, &hostErr) {
		t.Errorf("the IP in the URL: %v, want a certificate name mismatch", err)
	}
}

// TestDialRaceDelay: the first address of two.client.test swallows the connection attempt (a
// blackhole: the attempt blocks until cancelled); the second attempt starts after FallbackDelay,
// wins, and the first is cancelled.
func TestDialRaceDelay(t *testing.T) {
	t.Parallel()
	s := startService(t)
	l, port := listenOn(t)
	defer l.Close()
	acceptEach(l, func(conn net.Conn) { // held open until the client closes it
		go func() {
			io.Copy(io.Discard, conn)
			conn.Close()
		}()
	})
	cancelled := make(chan struct{})
	dialer := &net.Dialer{ControlContext: func(ctx context.Context, _, address string, _ syscall.RawConn) error {
		if host, _, _ := net.SplitHostPort(address); host == "127.0.0.2" {
			<-ctx.Done()
			close(cancelled)
			return ctx.Err()
		}
		return nil
	}}
	const delay = 250 * time.Millisecond
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true, Dialer: dialer})
	if _, err := c.Lookup(context.Background(), "two.client.test"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn, err := c.DialContext(context.Background(), "tcp", "two.client.test:"+port)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if conn.RemoteAddr().String() != "127.0.0.3:"+port {
		t.Errorf("connected to %s, want 127.0.0.3", conn.RemoteAddr())
	}
	if took < delay || took > delay+time.Second {
		t.Errorf("dial took %v, want the race delay %v (and not much more)", took, delay)
	}
	select {
	case <-cancelled:
	default:
		t.Error("the blackholed attempt was not cancelled when the other won")
	}
	if len(c.Failed()) != 0 {
		t.Errorf("Failed() = %v: a cancelled attempt says nothing about its address", c.Failed())
	}
}

// TestDialRefusedFailsFast: a refused first address starts the next attempt at once, not after
// the delay; then it is remembered and tried last, so the next dial takes one attempt.
func TestDialRefusedFailsFast(t *testing.T) {
	t.Parallel()
	s := startService(t)
	port := closingEdge(t)
	var dials dialLog
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true, FallbackDelay: 5 * time.Second,
		Hooks: client.Hooks{Dial: dials.Record}})
	for range 2 {
		start := time.Now()
		conn, err := c.DialContext(context.Background(), "tcp", "two.client.test:"+port)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("dial took %v: a refused attempt must not wait out the 5s delay", took)
		}
	}
	if attempts := dials.Attempts(); !slices.Equal(attempts, []int{2, 1}) {
		t.Errorf("attempts per dial: %v, want [2 1] (the refused address tried last the second time)", attempts)
	}
}

// TestDialLosersClosed: both addresses accept and the attempts start 1ms apart, so both may
// connect; exactly one connection stays open, any other is closed by the client. (Whether the
// loser connects before it is cancelled is up to the scheduler; TestCloseLosers checks that one
// that does is closed.)
func TestDialLosersClosed(t *testing.T) {
	t.Parallel()
	s := startService(t)
	var ls []net.Listener
	var port string
	for try := 0; len(ls) < 2 && try < 20; try++ {
		l3, p := listenOn(t)
		l2, err := net.Listen("tcp", "127.0.0.2:"+p)
		if err != nil {
			l3.Close()
			continue
		}
		ls, port = []net.Listener{l2, l3}, p
	}
	if len(ls) < 2 {
		t.Fatal("no port free on both 127.0.0.2 and 127.0.0.3")
	}
	accepted := make(chan net.Conn, 4)
	for _, l := range ls {
		defer l.Close()
		acceptEach(l, func(conn net.Conn) { accepted <- conn })
	}
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true, FallbackDelay: time.Millisecond})
	conn, err := c.DialContext(context.Background(), "tcp", net.JoinHostPort("two.client.test", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Every server-side connection other than the winner's must see EOF: its client end was closed.
	winner := conn.LocalAddr().String()
	deadline := time.After(500 * time.Millisecond)
	for open := 0; ; {
		select {
		case sc := <-accepted:
			defer sc.Close()
			if sc.RemoteAddr().String() == winner {
				open++
				continue
			}
			sc.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := sc.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("a losing connection was not closed: read %v", err)
			}
		case <-deadline:
			if open != 1 {
				t.Errorf("the winner's connection accepted %d times, want 1", open)
			}
			return
		}
	}
}

// TestDialLiteralAndErrors: an IP literal is dialed as is; a name without addresses, a bad port
// and an unknown network fail.
func TestDialLiteralAndErrors(t *testing.T) {
	t.Parallel()
	s := startService(t)
	port := closingEdge(t)
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true})
	ctx := context.Background()
	conn, err := c.DialContext(ctx, "tcp", "127.0.0.3:"+port)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	for _, tc := range []struct{ network, addr string }{
		{"tcp", "empty.client.test:" + port},
		{"tcp6", "two.client.test:" + port},
		{"udp", "two.client.test:" + port},
		{"tcp", "two.client.test:" + strconv.Itoa(70000)},
	} {
		if conn, err := c.DialContext(ctx, tc.network, tc.addr); err == nil {
			conn.Close()
			t.Errorf("%s %s: no error", tc.network, tc.addr)
		}
	}
}

// TestDialDualStack: dual.client.test has 127.0.0.3 and ::1. IPv6 is tried first (RFC 8305 §4);
// when it refuses, IPv4 takes over at once and IPv6 is tried last from then on; tcp4 dials IPv4
// only.
func TestDialDualStack(t *testing.T) {
	t.Parallel()
	s := startService(t)
	var l4, l6 net.Listener
	var port string
	for try := 0; l6 == nil && try < 20; try++ {
		l, p := listenOn(t)
		if l2, err := net.Listen("tcp", "[::1]:"+p); err == nil {
			l4, l6, port = l, l2, p
		} else {
			l.Close()
		}
	}
	if l6 == nil {
		t.Skip("no port free on both 127.0.0.3 and ::1")
	}
	defer l4.Close()
	acceptEach(l4, closeConn)
	acceptEach(l6, closeConn)
	var dials dialLog
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true, Hooks: client.Hooks{Dial: dials.Record}})
	dial := func(network string) string {
		t.Helper()
		conn, err := c.DialContext(context.Background(), network, net.JoinHostPort("dual.client.test", port))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.RemoteAddr().String()
	}
	v4, v6 := "127.0.0.3:"+port, "[::1]:"+port
	got := []string{dial("tcp"), dial("tcp4")}
	l6.Close()
	got = append(got, dial("tcp"), dial("tcp"))
	if want := []string{v6, v4, v4, v4}; !slices.Equal(got, want) {
		t.Errorf("connected to %v, want %v", got, want)
	}
	if attempts, want := dials.Attempts(), []int{1, 1, 2, 1}; !slices.Equal(attempts, want) {
		t.Errorf("attempts %v, want %v", attempts, want)
	}
}

// TestDialCancelledMidRace: both addresses of two.client.test swallow the attempt, and the caller's
// deadline ends the race after both started. The dial fails with the deadline, and only after
// each attempt has returned (they take a while to notice the cancellation): none outlives it.
// Neither address is remembered as failed: a cancelled attempt says nothing about its address.
func TestDialCancelledMidRace(t *testing.T) {
	t.Parallel()
	s := startService(t)
	var started, returned atomic.Int64
	dialer := &net.Dialer{ControlContext: func(ctx context.Context, _, _ string, _ syscall.RawConn) error {
		started.Add(1)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // slow to give up
		returned.Add(1)
		return ctx.Err()
	}}
	c := newClient(t, client.Config{Servers: []string{s.URL}, DisableLocalDNS: true, Dialer: dialer,
		FallbackDelay: 10 * time.Millisecond})
	if _, err := c.Lookup(context.Background(), "two.client.test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	conn, err := c.DialContext(ctx, "tcp", "two.client.test:9")
	if err == nil {
		conn.Close()
		t.Fatal("dialled through two blackholes")
	}
	if n, m := started.Load(), returned.Load(); n != 2 || m != 2 {
		t.Errorf("attempts started %d, returned before the dial did %d; want 2 and 2", n, m)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the caller's deadline", err)
	}
	if got := c.Failed(); len(got) != 0 {
		t.Errorf("Failed() = %v, want none", got)
	}
}
