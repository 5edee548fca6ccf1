// Package redistest starts a real redis-server on loopback for tests, shaped like httptest.NewServer: a free
// port on 127.0.0.1, no persistence, a temporary directory, stopped by t.Cleanup. Tests that need Redis skip,
// saying why, where redis-server is not installed (.ci/run installs Debian's).
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long a redis-server may take to say it is ready; it starts in milliseconds.
const startTimeout = 10 * time.Second

// Server is one running redis-server.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string

	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

// Start starts a redis-server for t and returns its address; it is stopped when t ends.
func Start(t testing.TB) string {
	t.Helper()
	return NewServer(t).Addr
}

// NewServer starts a redis-server for t, stopped when t ends or earlier by Stop (to test an outage).
func NewServer(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server); skipping the test that needs a real Redis")
	}
	// A free port can be taken between closing our listener and redis binding it; try a few.
	var errs []error
	for range 3 {
		s, err := start(t, bin)
		if err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		errs = append(errs, err)
	}
	t.Fatalf("starting redis-server: %v", errors.Join(errs...))
	return nil
}

// Stop kills the server and waits for it to exit; later calls do nothing.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
}

func start(t testing.TB, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--logfile", "", "--daemonize", "no")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running %s: %w", bin, err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	var logTail strings.Builder
	go func() {
		// Redis logs "Ready to accept connections" once it listens; read its log until then, then drain it.
		sc := bufio.NewScanner(out)
		isReady := false
		for !isReady && sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "Ready to accept connections") {
				close(ready)
				isReady = true
				continue
			}
			logTail.WriteString(line + "\n")
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(s.exited)
	}()
	select {
	case <-ready:
	case <-s.exited:
		return nil, fmt.Errorf("redis-server on port %d exited before it was ready:\n%s", port, logTail.String())
	case <-time.After(startTimeout):
		s.Stop()
		return nil, fmt.Errorf("redis-server on port %d not ready after %v", port, startTimeout)
	}
	if err := ping(s.Addr); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ping sends PING in Redis's inline protocol and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return fmt.Errorf("pinging redis at %s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return fmt.Errorf("pinging redis at %s: %w", addr, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("pinging redis at %s: %w", addr, err)
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("pinging redis at %s: answer %q", addr, line)
	}
	return nil
}
