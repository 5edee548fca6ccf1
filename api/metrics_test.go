package api

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// sampleCount is the number of observations of the histogram series name{endpoint=ep} in g.
func sampleCount(t *testing.T, g prometheus.Gatherer, name, ep string) uint64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "endpoint" && lp.GetValue() == ep {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func TestMetricsCounted(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{AdminToken: token, Whitelist: &memWhitelist{}})
	for range 3 {
		get(ta.Public(), "/d?host=api.example.com")
	}
	get(ta.Public(), "/d?host=a..b")
	get(ta.Public(), "/d?host=fail.example.com")
	get(ta.Public(), "/resolve?host=a.example.com,fail.example.com")
	get(ta.Public(), "/healthz")
	get(ta.Public(), "/nope")
	get(ta.Admin(), "/admin/domains")
	get(ta.Admin(), "/admin/domains", bearer("Bearer "+token))
	get(ta.Admin(), "/metrics")

	requests := []struct {
		endpoint, code string
		want           float64
	}{
		{"d", "200", 3}, {"d", "400", 1}, {"d", "503", 1}, {"resolve", "200", 1}, {"healthz", "200", 1},
		{"other", "404", 1}, {"admin_domains", "401", 1}, {"admin_domains", "200", 1}, {"metrics", "200", 1},
	}
	for _, tt := range requests {
		got := testutil.ToFloat64(ta.metrics.requests.WithLabelValues(tt.endpoint, tt.code))
		if got != tt.want {
			t.Errorf("httpdns_http_requests_total{endpoint=%q,code=%q} = %v, want %v", tt.endpoint, tt.code, got, tt.want)
		}
	}
	errs := []struct {
		code string
		want float64
	}{
		// UpstreamUnavailable: one from /d, one from the failed /resolve element.
		{CodeInvalidHost, 1}, {CodeUpstreamUnavailable, 2}, {CodeUnauthorized, 1}, {CodeNotFound, 1},
	}
	for _, tt := range errs {
		if got := testutil.ToFloat64(ta.metrics.errors.WithLabelValues(tt.code)); got != tt.want {
			t.Errorf("httpdns_http_errors_total{code=%q} = %v, want %v", tt.code, got, tt.want)
		}
	}
	for ep, want := range map[string]uint64{"d": 5, "resolve": 1} {
		if got := sampleCount(t, ta.reg, "httpdns_http_request_duration_seconds", ep); got != want {
			t.Errorf("duration{endpoint=%q} has %d samples, want %d", ep, got, want)
		}
	}
	if problems, err := testutil.GatherAndLint(ta.reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
}

func TestMetricsExposed(t *testing.T) {
	t.Parallel()
	ta := newTestAPI(t, Config{})
	get(ta.Public(), "/d?host=api.example.com")
	body := get(ta.Admin(), "/metrics").Body.String()
	for _, want := range []string{
		`httpdns_http_requests_total{code="200",endpoint="d"} 1`,
		`httpdns_http_request_duration_seconds_bucket{endpoint="d",le="5e-05"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestMetricsRegistration(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Resolver: &fakeResolver{}, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Resolver: &fakeResolver{}, Registerer: reg}); err == nil {
		t.Error("registering the same metrics twice succeeded")
	}
	a, err := New(Config{Resolver: &fakeResolver{}})
	if err != nil {
		t.Fatalf("nil Registerer: %v", err)
	}
	if w := get(a.Public(), "/d?host=api.example.com"); w.Code != 200 {
		t.Errorf("status %d without a registerer", w.Code)
	}
}

func TestMetricsRegistrationAllOrNothing(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	other, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	squatter := other.errors // registered last, so the first two are in when it fails
	reg.MustRegister(squatter)
	if _, err := New(Config{Resolver: &fakeResolver{}, Registerer: reg}); err == nil {
		t.Fatal("New succeeded over a conflicting collector")
	}
	reg.Unregister(squatter)
	if _, err := New(Config{Resolver: &fakeResolver{}, Registerer: reg}); err != nil {
		t.Errorf("New after the conflict is gone: %v (a failed New left metrics registered)", err)
	}
	if _, err := New(Config{Registerer: reg}); err == nil || strings.Contains(err.Error(), "registering") {
		t.Errorf("invalid config: err %v, want a config error and no registration", err)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := New(Config{BatchLimit: -1, Timeout: -1})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{"Resolver", "BatchLimit", "Timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q doesn't mention %s", err, want)
		}
	}
}
