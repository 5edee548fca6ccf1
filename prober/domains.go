package prober

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ErrNoDomains reports a domains file without any name.
var ErrNoDomains = errors.New("no probe domains")

// ParseDomains reads a probe domains file: one name a line, `#` starts a
// comment, blank lines are ignored. Names are returned canonical (lower
// case, no trailing dot), without duplicates, in file order. Every bad
// line is reported, as a *LineError, together.
func ParseDomains(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	var names []string
	var errs []error
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		switch {
		case len(fields) == 0:
			continue
		case len(fields) > 1:
			errs = append(errs, &LineError{Line: line, Err: fmt.Errorf("%d fields, want one name", len(fields))})
			continue
		}
		name := canonicalName(fields[0])
		if !validName(name) {
			errs = append(errs, &LineError{Line: line, Err: fmt.Errorf("bad domain %q", fields[0])})
			continue
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading domains: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, ErrNoDomains
	}
	return names, nil
}
