package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/httpdns/httpdns/prober"
	"github.com/httpdns/httpdns/resolver"
	"github.com/prometheus/client_golang/prometheus"
)

// splitLogQueue bounds the split signals waiting to be written; beyond it they are dropped (and
// counted) rather than slowing the request that produced them.
const splitLogQueue = 4096

// splitLog appends the resolver's split signals to a JSONL file in the prober's observation format
// (source "split"), so the next probe round reads them. The file is bounded: past maxBytes it is
// renamed to FILE.1 (replacing the previous one) and a new FILE is started, so at most about twice
// maxBytes are kept.
type splitLog struct {
	path     string
	maxBytes int64
	logger   *slog.Logger
	ch       chan resolver.SplitSignal
	done     chan struct{}
	w        *prober.Writer
	size     int64
	written  prometheus.Counter
	dropped  prometheus.Counter
}

// newSplitLog opens (appends to) path and starts the writer goroutine; Close stops it.
func newSplitLog(path string, maxBytes int64, reg prometheus.Registerer, logger *slog.Logger) (*splitLog, error) {
	l := &splitLog{
		path: path, maxBytes: maxBytes, logger: logger,
		ch: make(chan resolver.SplitSignal, splitLogQueue), done: make(chan struct{}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "httpdns_split_log_written_total", Help: "Split signals appended to the split log for the prober.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "httpdns_split_log_dropped_total", Help: "Split signals dropped because the split log's queue was full or a write failed.",
		}),
	}
	if err := l.open(); err != nil {
		return nil, err
	}
	if reg != nil {
		reg.MustRegister(l.written, l.dropped)
	}
	go l.run()
	return l, nil
}

func (l *splitLog) open() error {
	w, err := prober.OpenWriter(l.path)
	if err != nil {
		return fmt.Errorf("opening split_log %s: %w", l.path, err)
	}
	l.w, l.size = w, 0
	if fi, err := os.Stat(l.path); err == nil {
		l.size = fi.Size()
	}
	return nil
}

// RecordSplit queues sig; it never blocks.
func (l *splitLog) RecordSplit(sig resolver.SplitSignal) {
	select {
	case l.ch <- sig:
	default:
		l.dropped.Inc()
	}
}

func (l *splitLog) run() {
	defer close(l.done)
	for sig := range l.ch {
		if err := l.write(observationOf(sig)); err != nil {
			l.dropped.Inc()
			l.logger.Warn("writing split_log", "path", l.path, "err", err)
		}
	}
	if err := l.w.Close(); err != nil {
		l.logger.Warn("closing split_log", "path", l.path, "err", err)
	}
}

func (l *splitLog) write(o prober.Observation) error {
	line, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if l.size > 0 && l.size+int64(len(line))+1 > l.maxBytes {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	if err := l.w.Write(o); err != nil {
		return err
	}
	l.size += int64(len(line)) + 1
	l.written.Inc()
	return nil
}

// rotate keeps the current file as FILE.1 and starts an empty FILE.
func (l *splitLog) rotate() error {
	if err := l.w.Close(); err != nil {
		return err
	}
	if err := os.Rename(l.path, l.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return l.open()
}

// Close writes what is queued and closes the file.
func (l *splitLog) Close() {
	close(l.ch)
	<-l.done
}

// observationOf turns a split signal into the prober's observation: the /24 (/56) we asked with,
// the answer, and the narrower scope the CDN gave it.
func observationOf(sig resolver.SplitSignal) prober.Observation {
	return prober.Observation{
		Subnet: sig.Source, Domain: sig.Name, Qtype: sig.Qtype, Answers: sig.Answer,
		Scope: sig.Scope.Bits(), Time: sig.Time, Round: prober.SourceSplit, Source: prober.SourceSplit,
	}
}
