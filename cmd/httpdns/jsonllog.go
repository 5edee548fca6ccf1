package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// jsonlQueue bounds the records waiting to be written; beyond it they are dropped (and counted)
// rather than slowing the request that produced them.
const jsonlQueue = 4096

// reopenEvery is how often a log that failed to write, or whose file was removed or replaced
// under it, tries to reopen its file.
const reopenEvery = time.Second

// jsonlLog appends records as JSON lines to a bounded file for the prober: past maxBytes the file
// is renamed to FILE.1 (replacing the previous one) and a new FILE is started, so at most about
// twice maxBytes are kept. Records are queued without blocking and written by one goroutine.
//
// It survives what a long-running server meets: a record after Close (a resolver miss that
// outlives shutdown) is dropped, never a send on a closed channel; a failed write (disk full, the
// file closed under it) is counted, and the file is reopened on the next record at most once a
// reopenEvery, as it is when the file was removed or renamed by someone else.
type jsonlLog struct {
	name     string // the config key, for messages: "split_log", "demand_log"
	path     string
	maxBytes int64
	logger   *slog.Logger
	now      func() time.Time

	mu     sync.RWMutex // Record holds it shared; Close exclusively, so no send follows the close
	closed bool
	ch     chan any
	done   chan struct{}

	// Owned by the writer goroutine.
	f         *os.File // nil while the file is broken
	size      int64
	lastCheck time.Time // last reopen attempt or identity check

	written, dropped, errs prometheus.Counter
}

// newJSONLLog opens (appends to) path and starts the writer goroutine; Close stops it. metric is
// the metrics' name stem, e.g. "split_log".
func newJSONLLog(name, path string, maxBytes int64, logger *slog.Logger, now func() time.Time) (*jsonlLog, error) {
	l := &jsonlLog{
		name: name, path: path, maxBytes: maxBytes, logger: logger, now: now,
		ch: make(chan any, jsonlQueue), done: make(chan struct{}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "httpdns_" + name + "_written_total", Help: "Lines appended to the " + name + " for the prober.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "httpdns_" + name + "_dropped_total", Help: "Lines dropped because the " + name + "'s queue was full, a write failed or it was closed.",
		}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "httpdns_" + name + "_errors_total", Help: "Failed writes, rotations and reopenings of the " + name + ".",
		}),
	}
	if err := l.open(); err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

// collectors are the log's metrics, for registering.
func (l *jsonlLog) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.written, l.dropped, l.errs}
}

func (l *jsonlLog) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening %s %s: %w", l.name, l.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening %s %s: %w", l.name, l.path, err)
	}
	l.f, l.size, l.lastCheck = f, fi.Size(), l.now()
	return nil
}

// Record queues v; it never blocks, and after Close it drops v.
func (l *jsonlLog) Record(v any) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.dropped.Inc()
		return
	}
	select {
	case l.ch <- v:
	default:
		l.dropped.Inc()
	}
}

func (l *jsonlLog) run() {
	defer close(l.done)
	for v := range l.ch {
		if err := l.write(v); err != nil {
			l.dropped.Inc()
			l.errs.Inc()
			l.logger.Warn("writing "+l.name, "path", l.path, "err", err)
		}
	}
	if l.f != nil {
		if err := l.f.Close(); err != nil {
			l.logger.Warn("closing "+l.name, "path", l.path, "err", err)
		}
	}
}

func (l *jsonlLog) write(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if err := l.ready(); err != nil {
		return err
	}
	if l.size > 0 && l.size+int64(len(line)) > l.maxBytes {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	if _, err := l.f.Write(line); err != nil {
		l.broken()
		return err
	}
	l.size += int64(len(line))
	l.written.Inc()
	return nil
}

// ready makes sure a file is open: after a failure it reopens, at most once a reopenEvery; once a
// reopenEvery it also checks that the path still names the open file (not removed or replaced).
func (l *jsonlLog) ready() error {
	now := l.now()
	if l.f == nil {
		if now.Sub(l.lastCheck) < reopenEvery {
			return fmt.Errorf("%s is broken; reopening in %v", l.name, reopenEvery-now.Sub(l.lastCheck))
		}
		l.lastCheck = now
		return l.open()
	}
	if now.Sub(l.lastCheck) < reopenEvery {
		return nil
	}
	l.lastCheck = now
	cur, err1 := l.f.Stat()
	onDisk, err2 := os.Stat(l.path)
	if err1 == nil && err2 == nil && os.SameFile(cur, onDisk) {
		return nil
	}
	l.f.Close()
	l.f = nil
	return l.open()
}

// broken closes the file after a failed write, so the next record reopens it.
func (l *jsonlLog) broken() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	l.lastCheck = l.now()
}

// rotate keeps the current file as FILE.1 and starts an empty FILE.
func (l *jsonlLog) rotate() error {
	err := l.f.Close()
	l.f = nil
	if rerr := os.Rename(l.path, l.path+".1"); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		l.errs.Inc()
		l.logger.Warn("rotating "+l.name, "path", l.path, "err", err)
	}
	return l.open()
}

// Close writes what is queued and closes the file. Records after Close are dropped.
func (l *jsonlLog) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.ch)
	l.mu.Unlock()
	<-l.done
}
