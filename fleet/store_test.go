package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/httpdns/httpdns/fleet"
	"github.com/httpdns/httpdns/internal/redistest"
)

func newStore(t *testing.T, addr string, cfg fleet.Config) *fleet.Store {
	t.Helper()
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	s, err := fleet.New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestPutGetRoundTrip(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	clock := time.Date(2026, 12, 6, 23, 0, 0, 123, time.FixedZone("CST", 8*3600))
	s := newStore(t, addr, fleet.Config{Now: func() time.Time { return clock }})
	ctx := ctxTimeout(t, 5*time.Second)

	if _, err := s.Get(ctx, "whitelist"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("Get of an absent document: err %v, want ErrNotFound", err)
	}
	body := []byte("example.com\n*.cdn-a.test\n")
	put, err := s.Put(ctx, "whitelist", body, "admin@node-a", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "whitelist")
	if err != nil {
		t.Fatal(err)
	}
	want := fleet.Document{Kind: "whitelist", Version: 1, SHA256: fleet.Sum(body), Who: "admin@node-a",
		When: clock.UTC(), Body: body}
	for _, d := range []fleet.Document{put, got} {
		if d.Kind != want.Kind || d.Version != want.Version || d.SHA256 != want.SHA256 || d.Who != want.Who ||
			!d.When.Equal(want.When) || string(d.Body) != string(want.Body) {
			t.Fatalf("document %+v, want %+v", d, want)
		}
	}

	// The next version starts from the one read; other kinds are separate documents.
	if d, err := s.Put(ctx, "whitelist", []byte("example.org\n"), "admin", 1); err != nil || d.Version != 2 {
		t.Fatalf("second Put: version %d, err %v; want 2, nil", d.Version, err)
	}
	if d, err := s.Put(ctx, "accounts", nil, "admin", 0); err != nil || d.Version != 1 {
		t.Fatalf("Put of an empty accounts document: version %d, err %v; want 1, nil", d.Version, err)
	}
	if d, err := s.Get(ctx, "accounts"); err != nil || len(d.Body) != 0 || d.SHA256 != fleet.Sum(nil) {
		t.Fatalf("Get of the empty document: %+v, %v", d, err)
	}
}

// Sum is the hex SHA-256 (FIPS 180-2's test vector for "abc").
func TestSum(t *testing.T) {
	t.Parallel()
	if got := fleet.Sum([]byte("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Sum(abc) = %s", got)
	}
}

func TestPutRefusesStaleVersion(t *testing.T) {
	t.Parallel()
	s := newStore(t, redistest.Start(t), fleet.Config{})
	ctx := ctxTimeout(t, 5*time.Second)
	if _, err := s.Put(ctx, "cidrdb", []byte("v1"), "a", 0); err != nil {
		t.Fatal(err)
	}
	for _, expect := range []int64{0, 2, 7} {
		_, err := s.Put(ctx, "cidrdb", []byte("stale"), "b", expect)
		var ce *fleet.ConflictError
		if !errors.As(err, &ce) || ce.Current != 1 || ce.Kind != "cidrdb" {
			t.Fatalf("Put expecting version %d over version 1: err %v, want a ConflictError with Current 1", expect, err)
		}
	}
	if d, _ := s.Get(ctx, "cidrdb"); string(d.Body) != "v1" {
		t.Fatalf("a refused Put changed the document to %q", d.Body)
	}
}

// Two nodes upload at once from the same version, each over its own connection: exactly one wins.
func TestConcurrentPutsOneWins(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	a, b := newStore(t, addr, fleet.Config{}), newStore(t, addr, fleet.Config{})
	ctx := ctxTimeout(t, 10*time.Second)
	for round := range int64(20) {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i, s := range []*fleet.Store{a, b} {
			wg.Go(func() {
				<-start
				_, errs[i] = s.Put(ctx, "whitelist", fmt.Appendf(nil, "node %d round %d", i, round), "n", round)
			})
		}
		close(start)
		wg.Wait()
		var won, lost int
		for _, err := range errs {
			var ce *fleet.ConflictError
			switch {
			case err == nil:
				won++
			case errors.As(err, &ce) && ce.Current == round+1:
				lost++
			default:
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if won != 1 || lost != 1 {
			t.Fatalf("round %d: %d won, %d got a conflict naming version %d; want 1 and 1", round, won, lost, round+1)
		}
	}
}

func TestRestoreHighestVersionWins(t *testing.T) {
	t.Parallel()
	s := newStore(t, redistest.Start(t), fleet.Config{})
	ctx := ctxTimeout(t, 5*time.Second)
	doc := func(v int64, body string) fleet.Document {
		return fleet.Document{Kind: "accounts", Version: v, SHA256: fleet.Sum([]byte(body)), Who: "node-b",
			When: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Body: []byte(body)}
	}
	steps := []struct {
		name      string
		doc       fleet.Document
		wrote     bool
		wantBody  string
		wantVer   int64
		wantError bool
	}{
		{"absent", doc(5, "five"), true, "five", 5, false},
		{"same version", doc(5, "other five"), false, "five", 5, false},
		{"older", doc(3, "three"), false, "five", 5, false},
		{"newer", doc(8, "eight"), true, "eight", 8, false},
		{"bad checksum", fleet.Document{Kind: "accounts", Version: 9, SHA256: fleet.Sum([]byte("x")), Body: []byte("y")},
			false, "eight", 8, true},
		{"version 0", doc(0, "zero"), false, "eight", 8, true},
	}
	for _, st := range steps {
		wrote, err := s.Restore(ctx, st.doc)
		if wrote != st.wrote || (err != nil) != st.wantError {
			t.Fatalf("%s: Restore wrote %v, err %v; want %v, error %v", st.name, wrote, err, st.wrote, st.wantError)
		}
		got, err := s.Get(ctx, "accounts")
		if err != nil || string(got.Body) != st.wantBody || got.Version != st.wantVer {
			t.Fatalf("%s: Redis holds version %d %q (err %v); want %d %q", st.name, got.Version, got.Body, err,
				st.wantVer, st.wantBody)
		}
	}
	// A Put after a restore continues from the restored version.
	if d, err := s.Put(ctx, "accounts", []byte("nine"), "admin", 8); err != nil || d.Version != 9 {
		t.Fatalf("Put after Restore: version %d, err %v; want 9", d.Version, err)
	}
}

// A document written into Redis by hand, not by Put, is refused by Get rather than applied.
func TestGetRejectsCorruptDocument(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	s, _ := fleet.New(rdb, fleet.Config{Prefix: "t:"})
	ctx := ctxTimeout(t, 5*time.Second)
	good := fleet.Sum([]byte("body"))
	cases := map[string][]any{
		"wrong sha256":   {"version", "3", "sha256", good, "who", "x", "when", "2026-12-06T00:00:00Z", "body", "edited"},
		"no version":     {"sha256", good, "who", "x", "when", "2026-12-06T00:00:00Z", "body", "body"},
		"bad version":    {"version", "three", "sha256", good, "who", "x", "when", "2026-12-06T00:00:00Z", "body", "body"},
		"bad time":       {"version", "3", "sha256", good, "who", "x", "when", "yesterday", "body", "body"},
		"no body at all": {"version", "3", "sha256", good, "who", "x", "when", "2026-12-06T00:00:00Z"},
	}
	for name, fields := range cases {
		t.Run(name, func(t *testing.T) {
			if err := rdb.HSet(ctx, "t:doc:whitelist", fields...).Err(); err != nil {
				t.Fatal(err)
			}
			defer rdb.Del(ctx, "t:doc:whitelist")
			if _, err := s.Get(ctx, "whitelist"); !errors.Is(err, fleet.ErrCorrupt) {
				t.Fatalf("Get: err %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestBadKindRefused(t *testing.T) {
	t.Parallel()
	s := newStore(t, "127.0.0.1:1", fleet.Config{})
	ctx := ctxTimeout(t, time.Second)
	for _, kind := range []string{"", "White", "a b", "x:y", "../etc"} {
		if _, err := s.Put(ctx, kind, nil, "a", 0); err == nil {
			t.Errorf("Put accepted kind %q", kind)
		}
		if _, err := s.Get(ctx, kind); err == nil || errors.Is(err, fleet.ErrNotFound) {
			t.Errorf("Get of kind %q: err %v, want a bad-kind error", kind, err)
		}
	}
}

// hungRedis accepts connections and never answers, like a Redis stopped with SIGSTOP or a dead peer behind a
// live network path.
func hungRedis(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// Redis down, gone or hung: every call returns an error by the caller's deadline.
func TestRedisDownErrorsWithinDeadline(t *testing.T) {
	t.Parallel()
	stopped := redistest.NewServer(t)
	stopped.Stop()
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	const deadline = 300 * time.Millisecond
	const slack = 400 * time.Millisecond
	for name, addr := range map[string]string{"stopped": stopped.Addr, "wrong port": closedPort, "hung": hungRedis(t)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t, addr, fleet.Config{})
			calls := map[string]func(context.Context) error{
				"Get": func(ctx context.Context) error { _, err := s.Get(ctx, "whitelist"); return err },
				"Put": func(ctx context.Context) error { _, err := s.Put(ctx, "whitelist", []byte("x"), "a", 0); return err },
				"Restore": func(ctx context.Context) error {
					_, err := s.Restore(ctx, fleet.Document{Kind: "whitelist", Version: 1, SHA256: fleet.Sum(nil)})
					return err
				},
			}
			for cname, call := range calls {
				ctx, cancel := context.WithTimeout(t.Context(), deadline)
				start := time.Now()
				err := call(ctx)
				took := time.Since(start)
				cancel()
				if err == nil {
					t.Errorf("%s: no error with Redis %s", cname, name)
				}
				if took > deadline+slack {
					t.Errorf("%s: took %v with a %v deadline", cname, took, deadline)
				}
			}
		})
	}
}

// A body over MaxBodyBytes is refused before anything is sent, by Put and by Restore, and Redis is left as it was.
func TestPutRestoreRefuseTooLarge(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newStore(t, addr, fleet.Config{})
	ctx := ctxTimeout(t, 10*time.Second)
	big := make([]byte, fleet.MaxBodyBytes+1)
	if _, err := s.Put(ctx, "cidrdb", big, "t", 0); !errors.Is(err, fleet.ErrTooLarge) {
		t.Errorf("Put of %d bytes: %v, want ErrTooLarge", len(big), err)
	}
	doc := fleet.Document{Kind: "cidrdb", Version: 3, SHA256: fleet.Sum(big), Who: "t", When: time.Now(), Body: big}
	if _, err := s.Restore(ctx, doc); !errors.Is(err, fleet.ErrTooLarge) {
		t.Errorf("Restore of %d bytes: %v, want ErrTooLarge", len(big), err)
	}
	if _, err := s.Get(ctx, "cidrdb"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("after refused writes Get = %v, want ErrNotFound", err)
	}
}

// Version names what Redis holds, a corrupt document's too, so a Put can replace it.
func TestVersion(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newStore(t, addr, fleet.Config{})
	ctx := ctxTimeout(t, 5*time.Second)
	if v, err := s.Version(ctx, "cidrdb"); v != 0 || err != nil {
		t.Errorf("Version of nothing = %d, %v; want 0, nil", v, err)
	}
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.HSet(ctx, "httpdns:doc:cidrdb", "version", 4, "body", "x", "sha256", "wrong").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "cidrdb"); !errors.Is(err, fleet.ErrCorrupt) {
		t.Fatalf("Get of a corrupt document: %v", err)
	}
	v, err := s.Version(ctx, "cidrdb")
	if v != 4 || err != nil {
		t.Fatalf("Version of a corrupt document = %d, %v; want 4", v, err)
	}
	if d, err := s.Put(ctx, "cidrdb", []byte("good"), "t", v); err != nil || d.Version != 5 {
		t.Errorf("Put over it: %+v, %v", d, err)
	}
}

// A document over MaxBodyBytes that someone wrote into Redis is refused with ErrTooLarge without being
// read: Redis sends a few bytes, not the body (before, every node read it whole at each sync).
func TestGetRefusesTooLargeUnread(t *testing.T) {
	t.Parallel()
	addr := redistest.Start(t)
	s := newStore(t, addr, fleet.Config{})
	ctx := ctxTimeout(t, 20*time.Second)
	rdb := fleet.NewClient([]string{addr}, "")
	t.Cleanup(func() { rdb.Close() })
	big := make([]byte, fleet.MaxBodyBytes+1<<20)
	if err := rdb.HSet(ctx, "httpdns:doc:cidrdb", "version", 2, "sha256", fleet.Sum(big), "who", "t",
		"when", time.Now().Format(time.RFC3339Nano), "body", big).Err(); err != nil {
		t.Fatal(err)
	}
	sent := func() int64 {
		t.Helper()
		info, err := rdb.Info(ctx, "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_net_output_bytes:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("no total_net_output_bytes in INFO stats")
		return 0
	}
	before := sent()
	if _, err := s.Get(ctx, "cidrdb"); !errors.Is(err, fleet.ErrTooLarge) {
		t.Fatalf("Get of a %d-byte body: %v, want ErrTooLarge", len(big), err)
	}
	if n := sent() - before; n > 64<<10 {
		t.Errorf("Redis sent %d bytes for Get, want the body left unread", n)
	}
	// A document within the bound still reads, and so does none.
	if err := rdb.Del(ctx, "httpdns:doc:cidrdb").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "cidrdb"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("Get of nothing: %v, want ErrNotFound", err)
	}
	if _, err := s.Put(ctx, "cidrdb", []byte("small"), "t", 0); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Get(ctx, "cidrdb"); err != nil || string(d.Body) != "small" || d.Version != 1 {
		t.Fatalf("Get: %+v, %v; want version 1, small", d, err)
	}
}
