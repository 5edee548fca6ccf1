package redistest

import (
	"net"
	"testing"
	"time"
)

func TestStartAnswersPingAndStops(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	if err := ping(s.Addr); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("redis at %s still accepts connections after Stop", s.Addr)
	}
	s.Stop() // a second Stop, as t.Cleanup will do, must not block
}

func TestStartTwoServersOnDifferentPorts(t *testing.T) {
	t.Parallel()
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two servers on the same address %s", a)
	}
	for _, addr := range []string{a, b} {
		if err := ping(addr); err != nil {
			t.Fatal(err)
		}
	}
}
