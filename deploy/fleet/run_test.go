package fleet

import (
	"context"
	"math/rand/v2"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scriptTimeout bounds one run of run.sh, build included; a run takes about 15 s.
const scriptTimeout = 3 * time.Minute

// lookTool finds a tool on PATH or in /usr/sbin (where Debian puts nginx, and not on every PATH).
func lookTool(name string) bool {
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	_, err := exec.LookPath("/usr/sbin/" + name)
	return err == nil
}

// freeBase picks a BASE_PORT whose nine ports (run.sh's header) are free on 127.0.0.1 now.
func freeBase(t *testing.T) int {
	t.Helper()
	for range 20 {
		base := 20000 + rand.IntN(4000)*10
		free := true
		for _, off := range []int{0, 1, 2, 3, 53, 79, 101, 102, 103} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+off))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free port range for run.sh")
	return 0
}

// run.sh shows the upload on every node, L2 saving upstream queries, and /admin/fleet with three nodes
// in sync; its own checks make it exit 1 otherwise, and the test reads the figures it prints.
func TestRunScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three nodes, Redis and nginx for about 15 s; skipped with -short")
	}
	for _, tool := range []string{"nginx", "redis-server", "curl", "go"} {
		if !lookTool(tool) {
			t.Skipf("%s is not installed (apt-get install nginx redis-server curl); skipping the fleet example", tool)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "run.sh")
	cmd.Env = append(cmd.Environ(), "BASE_PORT="+strconv.Itoa(freeBase(t)), "KEEP=0")
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	b, err := cmd.CombinedOutput()
	out := string(b)
	t.Logf("run.sh took %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("run.sh: %v", err)
	}
	for _, want := range []string{
		"before: node1=0 node2=0 node3=0",
		"after:  node1=1 node2=1 node3=1",
		"whitelist from their copies: node1=1 node2=1 node3=1",
		`"node": "node2"`,
		"OK: the upload reached every node",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	m := regexp.MustCompile(`(?m)^  without L2: +(\d+) upstream queries.*\n(?:.*\n)*?^  with L2: +(\d+) upstream queries.*L2: (\d+) of (\d+) reads hit`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("the output lacks the upstream queries without and with L2")
	}
	without, _ := strconv.Atoi(m[1])
	with, _ := strconv.Atoi(m[2])
	hits, _ := strconv.Atoi(m[3])
	if with >= without || hits == 0 {
		t.Errorf("upstream queries %d without L2, %d with it, %d L2 hits: want fewer with L2, and hits", without, with, hits)
	}
	if n := strings.Count(out, `"out_of_sync": false`); n != 3 {
		t.Errorf("/admin/fleet shows %d nodes in sync, want 3", n)
	}
}
