package client

import (
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestOrder4Dial: families interleaved IPv6 first (RFC 8305 §4), each family's order kept,
// addresses that failed lately last, and network's family only.
func TestOrder4Dial(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	c := &Client{cfg: Config{Now: func() time.Time { return now }}, failed: newFailedAddrs()}
	in := parse("192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "2001:db8::2")
	c.failed.mark(netip.MustParseAddr("2001:db8::1"), now.Add(time.Minute))
	c.failed.mark(netip.MustParseAddr("192.0.2.3"), now.Add(-time.Second)) // expired: forgiven
	for _, tc := range []struct {
		network string
		want    []netip.Addr
	}{
		{"tcp", parse("2001:db8::2", "192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1")},
		{"tcp4", parse("192.0.2.1", "192.0.2.2", "192.0.2.3")},
		{"tcp6", parse("2001:db8::2", "2001:db8::1")},
	} {
		var got []netip.Addr
		for _, ap := range c.order4dial(tc.network, in, 443) {
			if ap.Port() != 443 {
				t.Fatalf("port %d", ap.Port())
			}
			got = append(got, ap.Addr())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.network, got, tc.want)
		}
	}
	if got, want := interleave(parse("192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2")),
		parse("2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2"); !slices.Equal(got, want) {
		t.Errorf("interleave: %v, want %v", got, want)
	}
}

func parse(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// TestCloseLosers: an attempt that connected after another won is closed, and closeLosers waits
// for every attempt still running.
func TestCloseLosers(t *testing.T) {
	t.Parallel()
	late, far := net.Pipe()
	defer far.Close()
	results := make(chan attempt, 2)
	results <- attempt{err: io.ErrUnexpectedEOF}
	go func() { results <- attempt{conn: late} }()
	closeLosers(results, 2)
	far.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := far.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the late connection's far end reads %v, want EOF: it was not closed", err)
	}
	if len(results) != 0 {
		t.Error("closeLosers returned before every attempt did")
	}
}
