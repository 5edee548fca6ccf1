package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// exchanger sends one DNS message to one node address. Exchange must return soon after ctx is
// cancelled: the pool cancels the slower attempt of a hedged pair and waits for it. Tests wrap it
// to count or delay.
type exchanger interface {
	Exchange(ctx context.Context, m *dns.Msg, addr string) (*dns.Msg, error)
}

// idleSockets is how many connected UDP sockets each node keeps for reuse. Sockets beyond it are
// made for one exchange and closed, so a burst is not limited by it, only its aftermath.
const idleSockets = 8

// udpSockets exchanges over connected UDP sockets, reused across exchanges: a node's idle sockets
// wait in a small channel. Reuse is safe because dns.Client.ExchangeWithConnContext skips replies
// whose ID is not the query's on a packet connection (a late reply to an earlier query on the same
// socket), and validateReply then checks the question; a socket that saw any error — a timeout,
// a cancellation, a read or write error — is closed rather than reused, so a late reply can only
// reach a socket whose exchange ended well.
//
// Reusing sockets trades the per-query source port randomisation of a fresh socket for far fewer
// sockets; the ID, the question check and the nodes being the operator's own recursive servers
// keep answers hard to spoof.
type udpSockets struct {
	client *dns.Client
	idle   map[string]chan *dns.Conn // by node address; fixed at construction
	closed atomic.Bool               // set by close: sockets are no longer kept
}

func newUDPSockets(addrs []string) *udpSockets {
	u := &udpSockets{
		client: &dns.Client{Net: "udp", UDPSize: dns.DefaultMsgSize},
		idle:   make(map[string]chan *dns.Conn, len(addrs)),
	}
	for _, a := range addrs {
		u.idle[a] = make(chan *dns.Conn, idleSockets)
	}
	return u
}

// Exchange sends m to addr over an idle socket of addr, or a new one, and returns the reply, or
// ctx's error once ctx ends. A socket that cannot be made is a localError: nothing was sent.
func (u *udpSockets) Exchange(ctx context.Context, m *dns.Msg, addr string) (*dns.Msg, error) {
	var conn *dns.Conn
	select {
	case conn = <-u.idle[addr]:
	default:
		c, err := u.client.DialContext(ctx, addr)
		if err != nil {
			return nil, localError{err}
		}
		conn = c
	}
	reply, clean, err := exchangeOn(ctx, u.client, m, conn, addr)
	if !clean || u.closed.Load() {
		_ = conn.Close()
		return reply, err
	}
	select {
	case u.idle[addr] <- conn:
		if u.closed.Load() {
			u.close() // close ran between the check above and the put: it may have missed conn
		}
	default:
		_ = conn.Close()
	}
	return reply, err
}

// close closes the idle sockets. Exchanges running now close theirs when they end.
func (u *udpSockets) close() {
	u.closed.Store(true)
	for _, ch := range u.idle {
		for {
			select {
			case c := <-ch:
				_ = c.Close()
				continue
			default:
			}
			break
		}
	}
}

// tcpDialer exchanges over a new TCP connection each time: it serves truncated replies, which are
// rare, so keeping connections open (and handling the server closing them) buys little.
type tcpDialer struct{ client *dns.Client }

// Exchange sends m to addr over a new TCP connection.
func (t tcpDialer) Exchange(ctx context.Context, m *dns.Msg, addr string) (*dns.Msg, error) {
	conn, err := t.client.DialContext(ctx, addr)
	if err != nil {
		if isLocal(err) {
			return nil, localError{err}
		}
		return nil, err // connection refused, unreachable: the node's
	}
	defer conn.Close()
	reply, _, err := exchangeOn(ctx, t.client, m, conn, addr)
	return reply, err
}

// exchangeOn runs one exchange on conn and stops it when ctx is cancelled (dns.Client honours only
// the context's deadline: it moves the socket's deadline into the past). clean reports that conn
// may be reused: the exchange ended with a reply and the cancellation never touched the socket.
func exchangeOn(ctx context.Context, c *dns.Client, m *dns.Msg, conn *dns.Conn, addr string) (reply *dns.Msg, clean bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("exchanging with %s: %w", addr, context.Cause(ctx))
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	reply, _, err = c.ExchangeWithConnContext(ctx, m, conn)
	stopped := stop()
	if err != nil && ctx.Err() != nil {
		return nil, false, fmt.Errorf("exchanging with %s: %w", addr, context.Cause(ctx))
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		// The socket's deadline (the context's) passed a moment before the context noticed.
		return nil, false, fmt.Errorf("exchanging with %s: %w: %w", addr, context.DeadlineExceeded, err)
	}
	if err != nil && (reply != nil || errors.Is(err, dns.ErrShortRead)) && !errors.Is(err, dns.ErrId) {
		// A reply came but cannot be read (miekg/dns returns the message it could not unpack): the
		// node is reachable, and what it sent for this name is the name's problem, as a reply that
		// does not match is.
		return nil, false, fmt.Errorf("%w: unreadable reply from %s: %w", errBadReply, addr, err)
	}
	return reply, err == nil && stopped, err
}
