package redistest

import (
	"bufio"
	"net"
	"strings"
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

func TestRestartComesBackEmptyOnTheSameAddress(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("SET k v\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("SET: %q, %v", line, err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	c2, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		t.Fatalf("after Restart: %v", err)
	}
	defer c2.Close()
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Write([]byte("EXISTS k\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(c2).ReadString('\n'); err != nil || line != ":0\r\n" {
		t.Fatalf("EXISTS after Restart: %q, %v; want :0 (empty)", line, err)
	}
}

func TestStartClusterThreeMastersOK(t *testing.T) {
	t.Parallel()
	addrs := StartCluster(t)
	if len(addrs) != 3 {
		t.Fatalf("%d nodes, want 3", len(addrs))
	}
	for _, addr := range addrs {
		info, err := command(addr, "CLUSTER INFO")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_known_nodes:3", "cluster_size:3"} {
			if !strings.Contains(info, want) {
				t.Errorf("node %s: CLUSTER INFO lacks %s:\n%s", addr, want, info)
			}
		}
	}
}
