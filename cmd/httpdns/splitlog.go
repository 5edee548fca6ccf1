package main

import (
	"log/slog"
	"time"

	"github.com/httpdns/httpdns/prober"
	"github.com/httpdns/httpdns/resolver"
	"github.com/prometheus/client_golang/prometheus"
)

// splitLog appends the resolver's split signals to a JSONL file in the prober's observation format
// (source "split"), so the next probe round reads them. It is a bounded, rotated jsonlLog: a split
// signal after Close is dropped, and a write error is counted and the file reopened.
type splitLog struct {
	*jsonlLog
}

// newSplitLog opens (appends to) path and starts the writer goroutine; Close stops it.
func newSplitLog(path string, maxBytes int64, reg prometheus.Registerer, logger *slog.Logger) (*splitLog, error) {
	l, err := newJSONLLog("split_log", path, maxBytes, logger, time.Now)
	if err != nil {
		return nil, err
	}
	if reg != nil {
		reg.MustRegister(l.collectors()...)
	}
	return &splitLog{l}, nil
}

// RecordSplit queues sig; it never blocks, and after Close it drops sig.
func (l *splitLog) RecordSplit(sig resolver.SplitSignal) {
	l.Record(observationOf(sig))
}

// observationOf turns a split signal into the prober's observation: the /24 (/56) we asked with,
// the answer, and the narrower scope the CDN gave it. A signal from an accuracy check's mismatch
// (the block's answer is not this /24's) says so in its round, "check": readers that only know
// "split" read it as one, since a split observation's round is not used.
func observationOf(sig resolver.SplitSignal) prober.Observation {
	round := prober.SourceSplit
	if sig.Check {
		round = checkRound
	}
	return prober.Observation{
		Subnet: sig.Source, Domain: sig.Name, Qtype: sig.Qtype, Answers: sig.Answer,
		Scope: sig.Scope.Bits(), Time: sig.Time, Round: round, Source: prober.SourceSplit,
	}
}

// checkRound is the round of the split log's lines that come from accuracy checks.
const checkRound = "check"
