package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// endpoint is the endpoint label of the HTTP metrics: a fixed set, never a raw path.
type endpoint string

// The endpoint label values.
const (
	epD            endpoint = "d"
	epResolve      endpoint = "resolve"
	epHealthz      endpoint = "healthz"
	epReadyz       endpoint = "readyz"
	epAdminDomains endpoint = "admin_domains"
	epAdminCIDRDB  endpoint = "admin_cidrdb"
	epMetrics      endpoint = "metrics"
	epOther        endpoint = "other"
)

// metrics are the api's series:
//
//	httpdns_http_requests_total{endpoint,code}          requests answered, code = HTTP status
//	httpdns_http_request_duration_seconds{endpoint}     time to answer, histogram
//	httpdns_http_errors_total{code}                     error answers and failed batch elements, code = error code
//	httpdns_account_requests_total{account}             requests of the account doors, by account id ("unknown" for ids no account has)
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	accounts *prometheus.CounterVec
}

// durationBuckets span a cache hit answered in tens of microseconds to a resolution that hits the
// default 3 s deadline.
func durationBuckets() []float64 {
	return []float64{
		.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5,
	}
}

// newMetrics builds the collectors and registers them with reg; nil reg: they count unregistered.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_http_requests_total",
			Help: "HTTP requests answered, by endpoint and HTTP status code.",
		}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "httpdns_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by endpoint.",
			Buckets: durationBuckets(),
		}, []string{"endpoint"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_http_errors_total",
			Help: "Error answers and failed /resolve elements, by error code.",
		}, []string{"code"}),
		accounts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpdns_account_requests_total",
			Help: "Requests of the provider doors that name an account, by account id (\"unknown\" for an id no account has).",
		}, []string{"account"}),
	}
	if reg == nil {
		return m, nil
	}
	// All or nothing: a half-registered set would make the next attempt fail too.
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.errors, m.accounts} {
		if err := reg.Register(c); err != nil {
			for _, d := range done {
				reg.Unregister(d)
			}
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
		done = append(done, c)
	}
	return m, nil
}

// endpointMetrics are one endpoint's children, resolved once so that answering a request costs no
// label lookup; statuses other than 200 are rarer and looked up when they happen.
type endpointMetrics struct {
	name     string
	ok       prometheus.Counter
	requests *prometheus.CounterVec
	duration prometheus.Observer
}

func (m *metrics) endpoint(ep endpoint) *endpointMetrics {
	name := string(ep)
	return &endpointMetrics{
		name:     name,
		ok:       m.requests.WithLabelValues(name, "200"),
		requests: m.requests,
		duration: m.duration.WithLabelValues(name),
	}
}

// observe counts one answered request with its status and duration.
func (m *endpointMetrics) observe(status int, d time.Duration) {
	if status == http.StatusOK {
		m.ok.Inc()
	} else {
		m.requests.WithLabelValues(m.name, strconv.Itoa(status)).Inc()
	}
	m.duration.Observe(d.Seconds())
}

// countError counts one error answer (or failed batch element) by its code.
func (m *metrics) countError(code string) {
	m.errors.WithLabelValues(code).Inc()
}
