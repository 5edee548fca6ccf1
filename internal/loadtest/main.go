// Command loadtest measures cache-hit /d throughput of httpdns against a bare net/http handler, in
// the same run on the same machine, with wrk (Debian package "wrk"). It builds and starts
// `httpdns demo` on loopback, warms one answer into the cache, then alternates wrk runs against the
// bare handler and httpdns and prints each run's requests/s and the ratio.
//
//	go run ./internal/loadtest [-duration 10s] [-connections 64] [-threads 2] [-rounds 3]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "loadtest: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	duration    time.Duration
	connections int
	threads     int
	rounds      int
}

func run() error {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each wrk run")
	flag.IntVar(&o.connections, "connections", 64, "wrk connections")
	flag.IntVar(&o.threads, "threads", 2, "wrk threads")
	flag.IntVar(&o.rounds, "rounds", 3, "bare/httpdns pairs to run")
	flag.Parse()
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found: apt-get install wrk")
	}
	bare, stopBare, err := startBare()
	if err != nil {
		return err
	}
	defer stopBare()
	target, stop, err := startDemo()
	if err != nil {
		return err
	}
	defer stop()
	var ratios []float64
	for i := range o.rounds {
		b, err := wrk(o, bare)
		if err != nil {
			return err
		}
		h, err := wrk(o, target)
		if err != nil {
			return err
		}
		ratios = append(ratios, h/b)
		fmt.Printf("round %d: bare %.0f req/s, httpdns /d (cache hit) %.0f req/s, ratio %.2f\n", i+1, b, h, h/b)
	}
	sort.Float64s(ratios)
	fmt.Printf("median ratio httpdns/bare: %.2f\n", ratios[len(ratios)/2])
	return nil
}

// startBare serves a fixed small JSON answer with a plain net/http handler: the ceiling to compare to.
func startBare() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	body := []byte(`{"host":"img.cdn-a.test","client_ip":"20.0.16.217","ips":["61.0.36.1"],"ipsv6":[],"ttl":300,"origin_ttl":300}`)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/d?host=img.cdn-a.test", func() { srv.Close() }, nil
}

// startDemo builds httpdns, runs `httpdns demo` on free loopback ports and returns a cache-hit URL.
func startDemo() (string, func(), error) {
	dir, err := os.MkdirTemp("", "httpdns-loadtest-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "httpdns")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/httpdns").CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("building httpdns: %v\n%s", err, out)
	}
	pub, adm := freePort(), freePort()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "demo", "-listen", pub, "-admin-listen", adm, "-dir", dir)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return "", nil, err
	}
	stop := func() { cancel(); cmd.Wait(); os.RemoveAll(dir) }
	// The demo prints its first curl command; that URL is warmed by the demo itself.
	re := regexp.MustCompile(`curl '(http://[^']*/d\?host=img\.cdn-a\.test&ip=[^']*)'`)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stdout)
			if err := warm(m[1]); err != nil {
				stop()
				return "", nil, err
			}
			return m[1], stop, nil
		}
	}
	stop()
	return "", nil, errors.New("demo exited before printing its URLs")
}

func warm(url string) error {
	for range 3 {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("warming %s: status %d", url, resp.StatusCode)
		}
	}
	return nil
}

func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var reqsPerSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrk runs one load and returns its requests/s.
func wrk(o options, url string) (float64, error) {
	out, err := exec.Command("wrk", "-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections),
		"-d", o.duration.String(), "--latency", url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	m := reqsPerSec.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk printed no Requests/sec:\n%s", out)
	}
	if bytesNon2xx := regexp.MustCompile(`Non-2xx`).Find(out); bytesNon2xx != nil {
		return 0, fmt.Errorf("wrk saw non-2xx answers:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
