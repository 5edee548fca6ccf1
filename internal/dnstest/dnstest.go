// Package dnstest starts real DNS servers on the loopback interface for tests, shaped like
// net/http/httptest: start on 127.0.0.1, get the address, cleaned up with the test.
package dnstest

import (
	"net"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Start serves h over UDP and TCP on one port of 127.0.0.1 until the test ends, and returns the
// address, host:port. It returns once both servers accept queries.
func Start(tb testing.TB, h dns.Handler) string {
	tb.Helper()
	var err error
	for range 10 { // the TCP port matching a random UDP port may be taken: try another
		var addr string
		if addr, err = start(tb, h); err == nil {
			return addr
		}
	}
	tb.Fatalf("starting a DNS server: %v", err)
	return ""
}

func start(tb testing.TB, h dns.Handler) (string, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := pc.LocalAddr().String()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return "", err
	}
	var started sync.WaitGroup
	started.Add(2)
	udp := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: started.Done}
	tcp := &dns.Server{Listener: l, Handler: h, NotifyStartedFunc: started.Done}
	errs := make(chan error, 2)
	for _, s := range []*dns.Server{udp, tcp} {
		go func() { errs <- s.ActivateAndServe() }()
	}
	started.Wait()
	tb.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
		for range 2 {
			if err := <-errs; err != nil {
				tb.Errorf("DNS server on %s: %v", addr, err)
			}
		}
	})
	return addr, nil
}

// Recorder is a dns.Handler that keeps every query it receives and answers with Reply.
type Recorder struct {
	// Reply builds the answer to q; nil answers every query with an empty NOERROR reply.
	Reply func(q *dns.Msg) *dns.Msg

	mu      sync.Mutex
	queries []*dns.Msg
}

// ServeDNS records q and writes Reply's answer, truncated to fit the query's UDP size over UDP.
func (r *Recorder) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	r.mu.Lock()
	r.queries = append(r.queries, q.Copy())
	r.mu.Unlock()
	var m *dns.Msg
	if r.Reply != nil {
		m = r.Reply(q)
	} else {
		m = new(dns.Msg).SetReply(q)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt := q.IsEdns0(); opt != nil {
			size = max(size, int(opt.UDPSize()))
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m) // a client that went away is the test's business
}

// Queries returns the queries received so far, in order.
func (r *Recorder) Queries() []*dns.Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*dns.Msg(nil), r.queries...)
}
