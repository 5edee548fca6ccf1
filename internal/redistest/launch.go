package redistest

import (
	"errors"
	"net"
	"os/exec"
	"strconv"
)

// Launch starts a redis-server on a free loopback port with its files in dir, for a program rather
// than a test (internal/eval/fleetbench): nothing stops it but Stop.
func Launch(dir string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not installed (apt-get install redis-server)")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, dir: dir, port: port}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}
