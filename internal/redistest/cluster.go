package redistest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterTimeout bounds forming a cluster; on loopback it takes about a second.
const clusterTimeout = 20 * time.Second

// StartCluster starts a Redis Cluster of three masters without replicas on loopback and returns their
// addresses; it is stopped when t ends. It skips t where redis-server or redis-cli is not installed.
func StartCluster(t testing.TB) []string {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not installed (apt-get install redis-server); skipping the test that needs a Redis Cluster")
	}
	addrs := make([]string, 3)
	for i := range addrs {
		// The cluster bus listens on a port of its own; the default, port+10000, may be out of range.
		addrs[i] = newServer(t, func() ([]string, error) {
			bus, err := freePort()
			return []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", "2000"}, err
		}).Addr
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	create := exec.CommandContext(ctx, cli, append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	// The nodes agree on the slots by gossip after create returns; there is no event to wait on but asking.
	for _, addr := range addrs {
		for {
			info, err := command(addr, "CLUSTER INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("redis cluster node %s not ok after %v: %q %v", addr, clusterTimeout, info, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return addrs
}

// command sends one inline command and returns its bulk-string answer.
func command(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, cmd+"\r\n"); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(head, "$") {
		return "", fmt.Errorf("%s: answer %q", cmd, head)
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil || n < 0 {
		return "", fmt.Errorf("%s: answer %q", cmd, head)
	}
	body := make([]byte, n+2)
	if _, err := io.ReadFull(r, body); err != nil {
		return "", err
	}
	return string(body[:n]), nil
}
