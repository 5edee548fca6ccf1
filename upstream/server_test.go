package upstream

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// behavior is how a scripted node answers a name.
type behavior int

const (
	normal   behavior = iota // NOERROR with one address, echoing the ECS option
	servfail                 // SERVFAIL
	refused                  // REFUSED
	silent                   // no reply at all
	truncate                 // TC over UDP, the answer over TCP
	oversize                 // 200 addresses, over UDP too: far more than the query's EDNS size allows
	mismatch                 // an answer for another question
)

// testNode is a scripted recursive server on 127.0.0.1, UDP and TCP on one port, that counts what it
// is asked.
type testNode struct {
	t       testing.TB
	addr    string
	servers []*dns.Server

	mu      sync.Mutex
	def     behavior
	byName  map[string]behavior // lower-case FQDN -> behaviour, over def
	delay   time.Duration
	delays  map[string]time.Duration // lower-case FQDN -> delay, over delay
	ports   map[string]int           // client address -> queries
	names   map[string]int           // lower-case FQDN -> queries
	arrived chan string              // when set, gets every query's name as it arrives
	queries atomic.Int64
}

// startNodes starts count scripted nodes, stopped at the end of the test.
func startNodes(t testing.TB, count int) []*testNode {
	t.Helper()
	out := make([]*testNode, count)
	for i := range out {
		out[i] = startNode(t)
	}
	return out
}

func startNode(t testing.TB) *testNode {
	t.Helper()
	n := &testNode{t: t, byName: map[string]behavior{}, delays: map[string]time.Duration{}, ports: map[string]int{}, names: map[string]int{}}
	var pc net.PacketConn
	var ln net.Listener
	for range 20 { // the TCP port may be taken; try another
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	n.addr = pc.LocalAddr().String()
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: n}, {Listener: ln, Handler: n}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() {
			if err := s.ActivateAndServe(); err != nil {
				t.Logf("node %s: %v", n.addr, err)
			}
		}()
		<-started
		n.servers = append(n.servers, s)
	}
	t.Cleanup(n.stop)
	return n
}

// stop shuts the node down: its port then refuses (UDP: ICMP port unreachable).
func (n *testNode) stop() {
	for _, s := range n.servers {
		_ = s.Shutdown()
	}
	n.servers = nil
}

func (n *testNode) set(def behavior) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.def = def
}

func (n *testNode) setName(name string, b behavior) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.byName[dns.CanonicalName(name)] = b
}

func (n *testNode) setDelay(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delay = d
}

// setNameDelay makes the node answer name after d, whatever its default delay: a name whose
// authoritative servers are slow.
func (n *testNode) setNameDelay(name string, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delays[dns.CanonicalName(name)] = d
}

// asked returns how many queries for name the node got.
func (n *testNode) asked(name string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.names[dns.CanonicalName(name)]
}

// sourcePorts returns how many distinct client addresses asked the node.
func (n *testNode) sourcePorts() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.ports)
}

// ServeDNS answers r as scripted.
func (n *testNode) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	n.queries.Add(1)
	name := dns.CanonicalName(r.Question[0].Name)
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	n.mu.Lock()
	n.ports[w.RemoteAddr().String()]++
	n.names[name]++
	b, ok := n.byName[name]
	if !ok {
		b = n.def
	}
	delay, arrived := n.delay, n.arrived
	if d, ok := n.delays[name]; ok {
		delay = d
	}
	n.mu.Unlock()
	if arrived != nil {
		arrived <- name
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	switch b {
	case silent:
		return
	case servfail:
		m.Rcode = dns.RcodeServerFailure
	case refused:
		m.Rcode = dns.RcodeRefused
	case truncate:
		if udp {
			m.Truncated = true
			break
		}
		fallthrough
	case mismatch:
		m.Question[0].Name = "other." + r.Question[0].Name
	case oversize:
		for i := range 200 {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, byte(i))})
		}
	default:
		if r.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, 1)})
		}
	}
	if opt := r.IsEdns0(); opt != nil {
		echo := m.SetEdns0(opt.UDPSize(), false).IsEdns0()
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_SUBNET); ok {
				c := *e
				c.SourceScope = e.SourceNetmask
				echo.Option = append(echo.Option, &c)
			}
		}
	}
	_ = w.WriteMsg(m)
}

// query builds an A query for name with ECS for 20.1.2.0/24.
func query(name string) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	q.RecursionDesired = true
	q.SetEdns0(1232, false)
	src := netip.MustParsePrefix("20.1.2.0/24")
	q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_SUBNET{
		Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(src.Bits()), Address: src.Addr().AsSlice(),
	})
	return q
}
