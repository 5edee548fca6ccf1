package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// openLoop is one constant-rate run. Request i is due at start + i/rate whatever happened to the
// requests before it; a dispatcher releases requests into a queue as they fall due, and one worker
// per keep-alive connection takes them from it. Each request's latency is counted from when it
// was due, so time spent queued behind a slow answer is the server's (no coordinated omission).
type openLoop struct {
	// url is the target; every request is a GET of it.
	url string
	// rate is requests per second.
	rate float64
	// warmup is sent at the same rate before the measured part and not recorded.
	warmup time.Duration
	// duration is the measured part.
	duration time.Duration
	// connections is the number of keep-alive connections, each with its own worker.
	connections int
	// timeout is how long after it was due a request may still complete; later, it is a failure
	// and, if it was not yet sent, it is not sent at all.
	timeout time.Duration
}

// record is what happened to one request, in nanoseconds after the run's start.
type record struct {
	sent, done int64
	ok         bool
}

// run sends the load and returns a record per request (warm-up included), in schedule order. It
// fails only when the target cannot be reached at all or ctx ends.
func (l openLoop) run(ctx context.Context) ([]record, error) {
	req, addr, err := requestBytes(l.url)
	if err != nil {
		return nil, err
	}
	workers := make([]*worker, l.connections)
	for i := range workers {
		c, err := net.DialTimeout("tcp", addr, l.timeout)
		if err != nil {
			closeWorkers(workers)
			return nil, fmt.Errorf("connecting to %s: %w", addr, err)
		}
		workers[i] = &worker{addr: addr, req: req, timeout: l.timeout, conn: c, br: bufio.NewReader(c)}
	}
	defer closeWorkers(workers)
	n := int((l.warmup + l.duration).Seconds() * l.rate)
	recs := make([]record, n)
	queue := make(chan int, n)
	start := time.Now().Add(10 * time.Millisecond)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.serve(queue, recs, start, l.due) })
	}
	dispatch(ctx, queue, n, start, l.due)
	wg.Wait()
	return recs, ctx.Err()
}

// due returns when request i is due, as an offset from the start.
func (l openLoop) due(i int) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / l.rate)
}

// dispatch releases requests 0..n-1 into queue as they fall due and then closes it; on ctx's end
// it stops early. It sleeps with nanosleep(2) rather than time.Sleep, whose wake-ups come about a
// millisecond late on an idle runtime; nanosleep's come tens of microseconds late on an idle
// machine. The records show the whole gap between due and sent, this lateness included.
func dispatch(ctx context.Context, queue chan<- int, n int, start time.Time, due func(int) time.Duration) {
	defer close(queue)
	for i := 0; i < n; {
		now := time.Since(start)
		for ; i < n && due(i) <= now; i++ {
			queue <- i
		}
		if i == n || ctx.Err() != nil {
			return
		}
		ts := syscall.NsecToTimespec(int64(due(i) - now))
		syscall.Nanosleep(&ts, nil)
	}
}

// worker owns one keep-alive connection and sends the requests it takes from the queue on it, one
// at a time; a broken connection is redialled for the next request.
type worker struct {
	addr    string
	req     []byte
	timeout time.Duration
	conn    net.Conn // nil after a failure until redialled
	br      *bufio.Reader
}

// serve records each request it takes from queue; one already past its timeout is failed unsent.
func (w *worker) serve(queue <-chan int, recs []record, start time.Time, due func(int) time.Duration) {
	for i := range queue {
		deadline := start.Add(due(i) + w.timeout)
		if time.Now().After(deadline) {
			recs[i] = record{sent: -1, done: int64(time.Since(start))}
			continue
		}
		sent := time.Since(start)
		err := w.do(deadline)
		recs[i] = record{sent: int64(sent), done: int64(time.Since(start)), ok: err == nil}
	}
}

// do sends the request and reads the whole answer, which must be a 200.
func (w *worker) do(deadline time.Time) error {
	if w.conn == nil {
		c, err := net.DialTimeout("tcp", w.addr, time.Until(deadline))
		if err != nil {
			return err
		}
		w.conn, w.br = c, bufio.NewReader(c)
	}
	keep, err := w.exchange(deadline)
	if err != nil || !keep {
		w.conn.Close()
		w.conn = nil
	}
	return err
}

// exchange writes the request on the open connection and reads the answer; keep is false when the
// server will close the connection.
func (w *worker) exchange(deadline time.Time) (keep bool, err error) {
	w.conn.SetDeadline(deadline)
	if _, err := w.conn.Write(w.req); err != nil {
		return false, err
	}
	status, keep, err := readResponse(w.br)
	if err != nil {
		return false, err
	}
	if status != http.StatusOK {
		return keep, fmt.Errorf("status %d", status)
	}
	return keep, nil
}

// closeWorkers closes the workers' connections; nil workers are skipped.
func closeWorkers(ws []*worker) {
	for _, w := range ws {
		if w != nil && w.conn != nil {
			w.conn.Close()
		}
	}
}

// requestBytes returns the HTTP/1.1 keep-alive GET of rawURL and the address to send it to.
func requestBytes(rawURL string) ([]byte, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("parsing target %q: %w", rawURL, err)
	}
	if u.Scheme != "http" || u.Port() == "" {
		return nil, "", fmt.Errorf("parsing target %q: want http://host:port/...", rawURL)
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: httpdns-loadtest\r\n\r\n"
	return []byte(req), u.Host, nil
}
