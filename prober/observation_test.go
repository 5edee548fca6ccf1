package prober_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/prober"
)

const goodLine = `{"subnet":"20.0.1.0/24","domain":"Img.CDN-a.test.","qtype":1,` +
	`"answers":["62.0.0.2","62.0.0.1"],"rcode":0,"scope":20,"node":"127.0.0.1:53",` +
	`"time":"2026-01-02T03:04:05Z","round":"2026-01-02T03:00:00Z","source":"probe"}`

func TestParseObservation(t *testing.T) {
	t.Parallel()
	o, err := prober.ParseObservation([]byte(goodLine))
	if err != nil {
		t.Fatalf("ParseObservation: %v", err)
	}
	if o.Domain != "img.cdn-a.test" {
		t.Errorf("domain = %q, want canonical", o.Domain)
	}
	want := []netip.Addr{netip.MustParseAddr("62.0.0.1"), netip.MustParseAddr("62.0.0.2")}
	if !reflect.DeepEqual(o.Answers, want) {
		t.Errorf("answers = %v, want sorted %v", o.Answers, want)
	}
	bad := []struct {
		name, from, to string
	}{
		{"not json", goodLine, "{"},
		{"host bits", `"20.0.1.0/24"`, `"20.0.1.7/24"`},
		{"bad subnet", `"20.0.1.0/24"`, `"20.0.1.0/33"`},
		{"no domain", `"Img.CDN-a.test."`, `""`},
		{"bad domain", `"Img.CDN-a.test."`, `"a..b"`},
		{"no qtype", `"qtype":1`, `"qtype":0`},
		{"scope too long", `"scope":20`, `"scope":33`},
		{"scope negative", `"scope":20`, `"scope":-2`},
		{"bad answer", `"62.0.0.2"`, `"62.0.0.256"`},
		{"bad source", `"source":"probe"`, `"source":"guess"`},
		{"no time", `"time":"2026-01-02T03:04:05Z",`, ``},
		{"probe without round", `"round":"2026-01-02T03:00:00Z"`, `"round":""`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			line := strings.Replace(goodLine, tt.from, tt.to, 1)
			if line == goodLine {
				t.Fatalf("test case changes nothing")
			}
			_, err := prober.ParseObservation([]byte(line))
			if err == nil {
				t.Fatalf("ParseObservation(%s) succeeded", line)
			}
			if !errors.Is(err, prober.ErrInvalidObservation) {
				t.Errorf("error %v is not ErrInvalidObservation", err)
			}
		})
	}
}

func TestReadObservationsSkipsBadLines(t *testing.T) {
	t.Parallel()
	split := strings.NewReplacer(`"source":"probe"`, `"source":"split"`, `"round":"2026-01-02T03:00:00Z"`, `"round":"split"`).
		Replace(goodLine)
	input := strings.Join([]string{
		goodLine,
		"",
		"garbage",
		split,
		`{"subnet":"20.0.1.0/24"}`,
		goodLine[:len(goodLine)/2], // a torn last line, as a killed writer leaves it
	}, "\n")
	var got []prober.Observation
	bad, err := prober.ReadObservations(strings.NewReader(input), func(o prober.Observation) { got = append(got, o) })
	if err != nil {
		t.Fatalf("ReadObservations: %v", err)
	}
	if len(got) != 2 || got[1].Source != prober.SourceSplit {
		t.Errorf("read %d observations (%+v), want the 2 good ones", len(got), got)
	}
	var lines []int
	for _, e := range bad {
		lines = append(lines, e.Line)
		var le *prober.LineError
		if !errors.As(e, &le) || !strings.HasPrefix(e.Error(), "line ") || errors.Unwrap(e) == nil {
			t.Errorf("bad line error %v is not a readable *LineError", e)
		}
	}
	if !reflect.DeepEqual(lines, []int{3, 5, 6}) {
		t.Errorf("malformed lines = %v, want [3 5 6]", lines)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestReadObservationsReadError(t *testing.T) {
	t.Parallel()
	if _, err := prober.ReadObservations(failingReader{}, func(prober.Observation) {}); err == nil {
		t.Error("a failing reader gave no error")
	}
}

// FuzzParseObservation checks that no line panics the parser and that a
// parsed observation encodes to a line that parses to itself.
func FuzzParseObservation(f *testing.F) {
	f.Add([]byte(goodLine))
	f.Add([]byte(`{"subnet":"2001:db8::/56","domain":"a.test","qtype":28,"answers":[],"rcode":3,` +
		`"scope":-1,"node":"","time":"2026-01-02T03:04:05Z","round":"split","source":"split"}`))
	f.Add([]byte(`{"subnet":null}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		o, err := prober.ParseObservation(line)
		if err != nil {
			return
		}
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("encoding a parsed observation: %v", err)
		}
		again, err := prober.ParseObservation(b)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", b, err)
		}
		if !reflect.DeepEqual(o, again) {
			t.Fatalf("round trip changed %+v into %+v", o, again)
		}
	})
}
