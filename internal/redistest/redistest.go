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

	bin, dir string
	port     int
	args     []string // more redis-server arguments, e.g. a cluster node's

	mu       sync.Mutex // guards the fields below, which Restart replaces
	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce *sync.Once
}

// Start starts a redis-server for t and returns its address; it is stopped when t ends.
func Start(t testing.TB) string {
	t.Helper()
	return NewServer(t).Addr
}

// NewServer starts a redis-server for t, stopped when t ends or earlier by Stop (to test an outage).
func NewServer(t testing.TB) *Server {
	t.Helper()
	return newServer(t, nil)
}

// newServer starts a redis-server with more arguments from args, which may ask for more free ports.
func newServer(t testing.TB, args func() ([]string, error)) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server); skipping the test that needs a real Redis")
	}
	// A free port can be taken between closing our listener and redis binding it; try a few.
	var errs []error
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, dir: t.TempDir(), port: port}
		if args != nil {
			if s.args, err = args(); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.start(); err != nil {
			errs = append(errs, err)
			continue
		}
		t.Cleanup(s.Stop)
		return s
	}
	t.Fatalf("starting redis-server: %v", errors.Join(errs...))
	return nil
}

// Stop kills the server and waits for it to exit; later calls do nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	once, cmd, exited := s.stopOnce, s.cmd, s.exited
	s.mu.Unlock()
	once.Do(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
}

// Restart stops the server and starts a new one on the same address. It comes back empty, as a Redis without
// persistence does after a crash.
func (s *Server) Restart() error {
	s.Stop()
	return s.start()
}

// start runs redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	port := s.port
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--logfile", "", "--daemonize", "no"}
	cmd := exec.Command(s.bin, append(args, s.args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited, s.stopOnce = cmd, exited, new(sync.Once)
	s.mu.Unlock()
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
		close(exited)
	}()
	select {
	case <-ready:
	case <-exited:
		return fmt.Errorf("redis-server on port %d exited before it was ready:\n%s", port, logTail.String())
	case <-time.After(startTimeout):
		s.Stop()
		return fmt.Errorf("redis-server on port %d not ready after %v", port, startTimeout)
	}
	if err := ping(s.Addr); err != nil {
		s.Stop()
		return err
	}
	return nil
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
