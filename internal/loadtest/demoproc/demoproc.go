// Package demoproc builds httpdns and runs it as child processes on loopback for the measuring
// tools under internal/loadtest: `httpdns demo` (the service against a simulated CDN, with its
// answers warmed) and, next to it, a plain `httpdns serve` of the demo's config, the service
// without the simulation, whose memory is the service's own.
package demoproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"
)

// demoURL matches the first curl command `httpdns demo` prints: a subnet-tier /d question.
var demoURL = regexp.MustCompile(`curl '(http://[^']*/d\?host=img\.cdn-a\.test&ip=[^']*)'`)

// readyTimeout bounds how long a child may take to start answering.
const readyTimeout = 30 * time.Second

// Demo is a running `httpdns demo` child and the files it generated.
type Demo struct {
	// URL is a /d question for a subnet-tier name whose answer Start has warmed into the cache,
	// so every later request with it is a cache hit.
	URL string
	// Admin is the demo's admin listener, host:port (/metrics, /admin/*; token "demo-token").
	Admin string
	// Dir holds the built binary and the demo's config (httpdns.yaml), databases and whitelist.
	Dir string
	bin string
	cmd *exec.Cmd
}

// mainPackage is the httpdns command, built by import path so that any directory inside the
// module will do as the working directory.
const mainPackage = "github.com/httpdns/httpdns/cmd/httpdns"

// Start builds httpdns, runs `httpdns demo` on free loopback ports, waits for its first URL and
// warms it. The working directory must be inside the module. Close stops the child and removes
// Dir.
func Start(ctx context.Context) (*Demo, error) {
	dir, err := os.MkdirTemp("", "httpdns-loadtest-")
	if err != nil {
		return nil, fmt.Errorf("making a directory for the demo: %w", err)
	}
	d := &Demo{Dir: dir, bin: filepath.Join(dir, "httpdns")}
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", d.bin, mainPackage).CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("building httpdns: %w\n%s", err, out)
	}
	if err := d.start(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// start runs the demo child and waits for the URL it prints, then warms it.
func (d *Demo) start(ctx context.Context) error {
	pub, adm, err := freeAddrs()
	if err != nil {
		return err
	}
	d.Admin = adm
	d.cmd = command(d.bin, "demo", "-listen", pub, "-admin-listen", adm, "-dir", d.Dir)
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("starting httpdns demo: %w", err)
	}
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("starting httpdns demo: %w", err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := demoURL.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			d.URL = m[1]
			return warm(ctx, d.URL)
		}
	}
	return errors.New("httpdns demo exited before printing its URLs")
}

// PID returns the process id of the demo child.
func (d *Demo) PID() int {
	return d.cmd.Process.Pid
}

// Close interrupts the demo (and waits for it to exit) and removes Dir.
func (d *Demo) Close() {
	stop(d.cmd)
	os.RemoveAll(d.Dir)
}

// Serve runs `httpdns serve` with the demo's config on other free loopback ports, using the demo's
// simulated DNS servers as its upstreams, waits until it answers /healthz and warms the demo's
// question in it. The caller stops it with Stop before closing the demo.
func (d *Demo) Serve(ctx context.Context) (*Proc, error) {
	return d.ServeConfig(ctx, filepath.Join(d.Dir, "httpdns.yaml"))
}

// ServeConfig is Serve with another config, such as the demo's with more settings appended; its
// listen and admin_listen are overridden by free loopback ports.
func (d *Demo) ServeConfig(ctx context.Context, config string) (*Proc, error) {
	pub, adm, err := freeAddrs()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return nil, fmt.Errorf("parsing the demo's URL: %w", err)
	}
	u.Host = pub
	cmd := command(d.bin, "serve", "-config", config, "-listen", pub, "-admin-listen", adm)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting httpdns serve: %w", err)
	}
	p := &Proc{URL: u.String(), cmd: cmd}
	if err := waitHealthy(ctx, "http://"+pub+"/healthz"); err != nil {
		p.Stop()
		return nil, err
	}
	if err := warm(ctx, p.URL); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// Proc is a running `httpdns serve` child.
type Proc struct {
	// URL is the demo's question asked of this child; its answer is cached.
	URL string
	cmd *exec.Cmd
}

// PID returns the process id of the child.
func (p *Proc) PID() int {
	return p.cmd.Process.Pid
}

// Stop interrupts the child and waits for it to exit.
func (p *Proc) Stop() {
	stop(p.cmd)
}

// command makes a child that is interrupted, not killed, when stopped, so it shuts down cleanly.
// It is not tied to a context: its owner stops it with stop.
func command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// stop interrupts cmd if it was started and waits for it.
func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
}

// warm asks url a few times so that its answer is cached; each must succeed.
func warm(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	for range 3 {
		if err := get(ctx, client, url); err != nil {
			return fmt.Errorf("warming %s: %w", url, err)
		}
	}
	return nil
}

// waitHealthy polls url until it answers 200 or readyTimeout passes: a child process gives no
// other sign that it listens.
func waitHealthy(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := get(ctx, client, url)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %w)", url, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// get fetches url, discards the body and wants status 200.
func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// freeAddrs returns two distinct loopback addresses that were free a moment ago.
func freeAddrs() (string, string, error) {
	var addrs [2]string
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", fmt.Errorf("finding a free port: %w", err)
		}
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs[0], addrs[1], nil
}
