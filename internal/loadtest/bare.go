package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// bareCommand is the argument that makes this program serve the bare handler instead of measuring.
const bareCommand = "serve-bare"

// bareBody is the bare handler's answer: byte for byte the shape and size of httpdns's /d answer
// for the warmed question.
var bareBody = []byte(`{"host":"img.cdn-a.test","client_ip":"20.0.16.217","ips":["61.0.36.1"],"ipsv6":[],"ttl":300,"origin_ttl":300,"scope":"20.0.16.0/24"}`)

// bareHandler answers every request with bareBody: the ceiling to compare httpdns to.
func bareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(bareBody)
	})
}

// serveBare serves bareHandler on a free loopback port, prints its URL as the first line of
// stdout, and serves until ctx ends.
func serveBare(ctx context.Context, stdout io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening for the bare handler: %w", err)
	}
	srv := &http.Server{Handler: bareHandler()}
	fmt.Fprintf(stdout, "http://%s/d?host=img.cdn-a.test\n", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bareProc is the bare handler running in a child process (this program run with bareCommand),
// so that, like httpdns, it does not share a Go runtime with the load generator: in one process,
// the generator's and the server's goroutines and garbage collections would slow each other.
type bareProc struct {
	// URL is the address to ask; every path gets the same answer.
	URL string
	cmd *exec.Cmd
}

// startBare runs this program's executable with bareCommand and reads the URL it prints.
func startBare() (*bareProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to run the bare handler: %w", err)
	}
	cmd := exec.Command(self, bareCommand)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("starting the bare handler: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the bare handler: %w", err)
	}
	b := &bareProc{cmd: cmd}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("reading the bare handler's URL: %w", err)
	}
	b.URL = strings.TrimSpace(line)
	return b, nil
}

// PID returns the process id of the bare handler's process.
func (b *bareProc) PID() int {
	return b.cmd.Process.Pid
}

// Close interrupts the bare handler's process and waits for it.
func (b *bareProc) Close() {
	b.cmd.Process.Signal(os.Interrupt)
	b.cmd.Wait()
}
