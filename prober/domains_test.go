package prober_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/httpdns/httpdns/prober"
)

func TestParseDomains(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		input    string
		want     []string
		badLines []int
	}{
		{"names", "img.cdn-a.test\n# comment\n\nAPI.cdn-a.test. # trailing\nimg.cdn-a.test\n",
			[]string{"img.cdn-a.test", "api.cdn-a.test"}, nil},
		{"bad lines", "ok.test\ntwo names\n*.wild.test\na..b\n", nil, []int{2, 3, 4}},
		{"the service's host-name grammar", "1.2.3.4\n-a.test\na.123\nx/y.test\n_dmarc.ok.test\n" + strings.Repeat("a", 64) + ".test\n",
			nil, []int{1, 2, 3, 4, 6}},
		{"underscore and digits", "_dmarc.ok.test\n123.ok.test\n", []string{"_dmarc.ok.test", "123.ok.test"}, nil},
		{"empty", "# nothing\n", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := prober.ParseDomains(strings.NewReader(tt.input))
			if tt.want != nil {
				if err != nil || !slices.Equal(got, tt.want) {
					t.Errorf("ParseDomains = %v, %v; want %v", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseDomains = %v, want an error", got)
			}
			var lines []int
			for _, e := range unjoin(err) {
				var le *prober.LineError
				if errors.As(e, &le) {
					lines = append(lines, le.Line)
				}
			}
			if !slices.Equal(lines, tt.badLines) {
				t.Errorf("bad lines %v, want %v (err %v)", lines, tt.badLines, err)
			}
		})
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func FuzzParseDomains(f *testing.F) {
	f.Add("img.cdn-a.test\n# c\napi.test.\n")
	f.Add("a b\n\x00\n")
	f.Fuzz(func(t *testing.T, input string) {
		names, err := prober.ParseDomains(strings.NewReader(input))
		if err != nil {
			return
		}
		// The names a file gives parse back to themselves.
		again, err := prober.ParseDomains(strings.NewReader(strings.Join(names, "\n")))
		if err != nil || !slices.Equal(names, again) {
			t.Fatalf("names %q parse back as %q, %v", names, again, err)
		}
	})
}
