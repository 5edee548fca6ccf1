package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/httpdns/httpdns/upstream"
)

// closedPort returns a loopback UDP address nothing listens on: queries to it get ICMP port
// unreachable, a network error that counts against the node.
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func TestReady(t *testing.T) {
	t.Parallel()
	p, err := upstream.New(upstream.Config{Addrs: []string{closedPort(t), closedPort(t)},
		AttemptTimeout: 100 * time.Millisecond, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	r := &Resolver{pool: p}
	if err := r.Ready(); err != nil {
		t.Fatalf("Ready before any query = %v, want nil", err)
	}
	for i := 0; r.Ready() == nil && i < 50; i++ {
		_, _ = p.Exchange(context.Background(), newQuery(fmt.Sprintf("n%d.test", i), TypeA, netip.Prefix{}), "k")
	}
	if err := r.Ready(); !errors.Is(err, ErrNoHealthyUpstream) {
		t.Fatalf("Ready with every node refusing = %v, want ErrNoHealthyUpstream", err)
	}
}
