package unbound

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/httpdns/httpdns/internal/cdnsim"
	"github.com/miekg/dns"
)

// Bounds on every wait, so a broken setup fails the test instead of hanging it.
const (
	startTimeout = 15 * time.Second // a child process until it answers
	buildTimeout = 3 * time.Minute  // go build of cmd/httpdns, cold cache included
	stopTimeout  = 10 * time.Second // a child process after SIGTERM
)

// seen is one query the authoritative received and what it replied.
type seen struct {
	name   string       // lower case, without the trailing dot
	qtype  uint16       // the question's type
	source netip.Prefix // the ECS source prefix; invalid when the query had no ECS
	scope  int          // the reply's ECS scope; -1 when the reply had none
}

// authority is the world's authoritative server with a recorder in front: the listener Unbound
// asks hands every query to the cdnsim server's handler and notes the ECS option that came in
// and the scope that went out.
type authority struct {
	sim  *cdnsim.Server
	addr string // where Unbound's stub-addr points, host:port

	mu  sync.Mutex
	log []seen // every query answered, in order
}

// startAuthority serves w on 127.0.0.1 (UDP and TCP of one free port) until the test ends.
func startAuthority(t *testing.T, w *cdnsim.World) *authority {
	t.Helper()
	a := &authority{sim: cdnsim.StartTest(t, w)}
	pc, ln := listenBoth(t)
	a.addr = ln.Addr().String()
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	servers := []*dns.Server{
		{PacketConn: pc, Handler: a, NotifyStartedFunc: notify},
		{Listener: ln, Handler: a, NotifyStartedFunc: notify},
	}
	for _, s := range servers {
		go func() { _ = s.ActivateAndServe() }()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	for range servers {
		select {
		case <-started:
		case <-time.After(startTimeout):
			t.Fatal("recording authoritative did not start")
		}
	}
	return a
}

// ServeDNS answers with the world's server and records the exchange.
func (a *authority) ServeDNS(rw dns.ResponseWriter, req *dns.Msg) {
	a.sim.ServeDNS(&recordingWriter{ResponseWriter: rw, a: a, req: req}, req)
}

// queries returns what the authoritative has received so far.
func (a *authority) queries() []seen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]seen(nil), a.log...)
}

// recordingWriter notes the ECS source of the query and the scope of the reply it writes.
type recordingWriter struct {
	dns.ResponseWriter
	a   *authority
	req *dns.Msg
}

func (w *recordingWriter) WriteMsg(m *dns.Msg) error {
	s := seen{scope: -1}
	if len(w.req.Question) == 1 {
		q := w.req.Question[0]
		s.name, s.qtype = strings.TrimSuffix(dns.CanonicalName(q.Name), "."), q.Qtype
	}
	if e := ecsOf(w.req); e != nil {
		a, _ := netip.AddrFromSlice(e.Address)
		if e.Family == 1 {
			a = a.Unmap()
		}
		s.source = netip.PrefixFrom(a, int(e.SourceNetmask))
	}
	if e := ecsOf(m); e != nil {
		s.scope = int(e.SourceScope)
	}
	w.a.mu.Lock()
	w.a.log = append(w.a.log, s)
	w.a.mu.Unlock()
	return w.ResponseWriter.WriteMsg(m)
}

// ecsOf returns m's EDNS Client Subnet option, or nil.
func ecsOf(m *dns.Msg) *dns.EDNS0_SUBNET {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_SUBNET); ok {
				return e
			}
		}
	}
	return nil
}

// listenBoth opens UDP and TCP on one free port of 127.0.0.1.
func listenBoth(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
	}
	t.Fatal("no port free on both UDP and TCP")
	return nil, nil
}

// freePort returns a port of 127.0.0.1 free on UDP and TCP now, for a child process to bind.
func freePort(t *testing.T) int {
	t.Helper()
	pc, ln := listenBoth(t)
	defer pc.Close()
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// confParams fills unbound.conf.tmpl.
type confParams struct {
	Listen    string // interface address
	Port      int    // UDP and TCP port
	Dir       string // working directory: pid file and log
	Authority string // stub-addr of the test zone, "127.0.0.1@PORT"
}

// writeUnboundConf renders unbound.conf.tmpl into dir.
func writeUnboundConf(t *testing.T, dir string, p confParams) string {
	t.Helper()
	tmpl, err := template.ParseFiles("unbound.conf.tmpl")
	if err != nil {
		t.Fatalf("reading the config template: %v", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, p); err != nil {
		t.Fatalf("rendering the config template: %v", err)
	}
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startUnbound runs "unbound -d -c CONF" with the authority as the test zone's stub and returns
// its address once it answers a query for the zone.
func startUnbound(t *testing.T, bin string, auth *authority) string {
	t.Helper()
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(auth.addr)
	p := confParams{Listen: "127.0.0.1", Port: freePort(t), Dir: dir, Authority: host + "@" + port}
	conf := writeUnboundConf(t, dir, p)
	logFile := filepath.Join(dir, "unbound.log")
	exited := startChild(t, "unbound", logFile, bin, "-d", "-c", conf)
	addr := net.JoinHostPort(p.Listen, strconv.Itoa(p.Port))
	probe := new(dns.Msg).SetQuestion("unbound-ready.test.", dns.TypeA)
	c := &dns.Client{Timeout: 300 * time.Millisecond}
	deadline := time.Now().Add(startTimeout)
	for {
		r, _, err := c.Exchange(probe, addr)
		if err == nil && r.Rcode == dns.RcodeNameError {
			return addr // the authority's NXDOMAIN: Unbound is up and reaches it
		}
		select {
		case <-exited:
			t.Fatalf("unbound exited at start; log:\n%s", readLog(logFile))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("unbound did not answer within %v (last: %v, %v); log:\n%s", startTimeout, r, err, readLog(logFile))
		}
	}
}

// startChild starts a process whose stdout and stderr go to logFile, and stops it with SIGTERM
// (SIGKILL past stopTimeout) when the test ends. The returned channel is closed when it exits.
func startChild(t *testing.T, what, logFile, bin string, args ...string) <-chan struct{} {
	t.Helper()
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("starting %s: %v", what, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			t.Errorf("%s did not stop within %v of SIGTERM; killing it", what, stopTimeout)
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	return exited
}

// readLog returns a child's log for a failure message.
func readLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

// buildHTTPDNS builds cmd/httpdns into dir with the go command that runs this test.
func buildHTTPDNS(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test puts its own GOROOT/bin first on PATH
	if err != nil {
		t.Fatalf("finding the go command: %v", err)
	}
	bin := filepath.Join(dir, "httpdns")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/httpdns/httpdns/cmd/httpdns")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(buildTimeout):
		_ = cmd.Process.Kill()
		err = errors.Join(errors.New("timed out"), <-done)
	}
	if err != nil {
		t.Fatalf("building httpdns: %v\n%s", err, out.String())
	}
	return bin
}
