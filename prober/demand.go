package prober

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"time"
)

// SourceDemand marks a line of the server's demand log: a client prefix
// that asked, with no answer. Probe reads the IPv6 ones to probe where
// clients are instead of enumerating wide IPv6 networks.
const SourceDemand = "demand"

// Demand is one line of the demand log (JSONL), written by `httpdns serve`
// for the clients that asked (IPv6 clients: their /56), once per prefix
// and rotation period:
//
//	{"subnet":"2400:0:cd7:c400::/56","domain":"img.cdn-a.test","qtype":28,
//	 "block":"2400::/32","time":"2026-03-01T10:00:02Z","source":"demand"}
type Demand struct {
	// Subnet is the client's ECS source prefix: its /56 (IPv6) or /24.
	Subnet netip.Prefix `json:"subnet"`
	// Domain and Qtype are the first question the prefix asked in the
	// period, for the record; the prober probes every probe name.
	Domain string `json:"domain,omitempty"`
	Qtype  uint16 `json:"qtype,omitempty"`
	// Block is the CIDRDB network the client was located in, if any.
	Block netip.Prefix `json:"block,omitzero"`
	// Time is when the prefix first asked in the period.
	Time time.Time `json:"time"`
	// Source is SourceDemand.
	Source string `json:"source"`
}

// ErrInvalidDemand reports a demand line that is not valid.
var ErrInvalidDemand = errors.New("invalid demand line")

// ParseDemand decodes one demand line and validates it.
func ParseDemand(line []byte) (Demand, error) {
	var d Demand
	if err := json.Unmarshal(line, &d); err != nil {
		return Demand{}, fmt.Errorf("%w: decoding: %w", ErrInvalidDemand, err)
	}
	if !d.Subnet.IsValid() {
		return Demand{}, fmt.Errorf("%w: no subnet", ErrInvalidDemand)
	}
	if d.Source != SourceDemand {
		return Demand{}, fmt.Errorf("%w: source %q is not %q", ErrInvalidDemand, d.Source, SourceDemand)
	}
	d.Subnet = normalPrefix(d.Subnet)
	return d, nil
}

// ReadDemand reads a demand log line by line and calls fn with each valid
// line; a malformed line is returned as a *LineError and skipped. err
// reports a read failure only.
func ReadDemand(r io.Reader, fn func(Demand)) (bad []*LineError, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		buf, rerr := br.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return bad, fmt.Errorf("reading demand: %w", rerr)
		}
		if t := bytes.TrimSpace(buf); len(t) > 0 {
			if d, perr := ParseDemand(t); perr != nil {
				bad = append(bad, &LineError{Line: line, Err: perr})
			} else {
				fn(d)
			}
		}
		if rerr != nil {
			return bad, nil
		}
	}
}

// LoadDemand reads demand logs (missing files are skipped) and returns the
// distinct subnets in them, sorted, and the malformed lines of each file.
func LoadDemand(paths ...string) ([]netip.Prefix, map[string][]*LineError, error) {
	var out []netip.Prefix
	bad := map[string][]*LineError{}
	for _, path := range paths {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading demand: %w", err)
		}
		b, err := ReadDemand(f, func(d Demand) { out = append(out, d.Subnet) })
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("reading demand %s: %w", path, err)
		}
		if len(b) > 0 {
			bad[path] = b
		}
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out), bad, nil
}
