package cdnsim

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Behavior is how the server treats the queries it receives; tests switch it to script upstream
// failures.
type Behavior int

// Behaviors of the server.
const (
	// Normal answers every query as the world says.
	Normal Behavior = iota
	// Silent never replies, over UDP or TCP: the client times out.
	Silent
	// ServFail replies SERVFAIL to everything.
	ServFail
	// Truncate replies over UDP with TC=1 and empty sections; TCP answers normally.
	Truncate
	// Refuse replies REFUSED to everything.
	Refuse
	// BadECS answers normally but with an ECS option that does not echo the query's (RFC 7871
	// §7.3 says to discard such replies): the address's last source bit flipped, the family
	// swapped when the source is /0, and an IPv4 option (192.0.2.0/24, scope 24) added when the
	// query had none.
	BadECS
)

// String returns the behaviour's name.
func (b Behavior) String() string {
	names := []string{"Normal", "Silent", "ServFail", "Truncate", "Refuse", "BadECS"}
	if b < 0 || int(b) >= len(names) {
		return fmt.Sprintf("Behavior(%d)", int(b))
	}
	return names[b]
}

// Server is the world's ECS-aware authoritative DNS server for Zone, on UDP and TCP of one address.
type Server struct {
	world    *World
	addr     string
	udp, tcp *dns.Server
	behavior atomic.Int64
	delay    atomic.Int64 // nanoseconds
	queries  atomic.Int64
	perName  sync.Map // canonical name -> *atomic.Int64
	done     chan struct{}
	closing  sync.Once
	wg       sync.WaitGroup
}

// portTries bounds the attempts to find a port free on both UDP and TCP.
const portTries = 20

// Serve starts an authoritative server for w on addr, UDP and TCP on the same port. A port of 0
// picks one that is free on both. It returns once both listeners serve.
func Serve(w *World, addr string) (*Server, error) {
	pc, l, err := listenBoth(addr)
	if err != nil {
		return nil, fmt.Errorf("serving world on %s: %w", addr, err)
	}
	s := &Server{world: w, addr: l.Addr().String(), done: make(chan struct{})}
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: s, UDPSize: dns.MaxMsgSize, NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: l, Handler: s, NotifyStartedFunc: notify}
	failed := make(chan error, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		s.wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				failed <- err
			}
		})
	}
	for range 2 {
		select {
		case <-started:
		case err := <-failed:
			// Closing the sockets ends the other listener too, started or not.
			pc.Close()
			l.Close()
			s.wg.Wait()
			return nil, fmt.Errorf("serving world on %s: %w", addr, err)
		}
	}
	return s, nil
}

// listenBoth opens a UDP socket and a TCP listener on one address. With port 0 it lets the
// system pick a UDP port and retries until TCP can have the same one.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	for range portTries {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		_, got, _ := net.SplitHostPort(pc.LocalAddr().String())
		l, err := net.Listen("tcp", net.JoinHostPort(host, got))
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		if port != "0" {
			return nil, nil, err
		}
	}
	return nil, nil, errors.New("no port free on both UDP and TCP")
}

// StartTest serves w on 127.0.0.1:0 for the length of a test, like httptest.NewServer: it fails
// the test if the server cannot start and closes it in tb.Cleanup.
func StartTest(tb testing.TB, w *World) *Server {
	tb.Helper()
	s, err := Serve(w, "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("starting simulated CDN authoritative: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("closing simulated CDN authoritative: %v", err)
		}
	})
	return s
}

// Addr returns the host:port the server listens on, UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// SetBehavior changes how the server treats the queries it receives from now on.
func (s *Server) SetBehavior(b Behavior) { s.behavior.Store(int64(b)) }

// SetDelay makes the server wait d before replying to each query (0: no wait).
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Queries returns how many queries the server has received, whatever it did with them.
func (s *Server) Queries() int64 { return s.queries.Load() }

// QueriesFor returns how many queries for name (any case, trailing dot or not) it has received.
func (s *Server) QueriesFor(name string) int64 {
	if n, ok := s.perName.Load(canonical(name)); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// count records one received query.
func (s *Server) count(req *dns.Msg) {
	s.queries.Add(1)
	if len(req.Question) == 0 {
		return
	}
	name := canonical(req.Question[0].Name)
	n, ok := s.perName.Load(name)
	if !ok {
		n, _ = s.perName.LoadOrStore(name, new(atomic.Int64))
	}
	n.(*atomic.Int64).Add(1)
}

// wait sleeps for the configured delay; it returns false when the server closes meanwhile.
func (s *Server) wait() bool {
	d := time.Duration(s.delay.Load())
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// Close stops both listeners and waits for them; it is safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.closing.Do(func() {
		close(s.done)
		err = errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
		s.wg.Wait()
	})
	if err != nil {
		return fmt.Errorf("closing world server %s: %w", s.addr, err)
	}
	return nil
}
