package kubesvc

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"k8s.io/client-go/tools/metrics"
)

// The stock kubernetes plugin's metric families, under its subsystem, names,
// label names and label values, so that the dashboards and alerts written
// for it keep working when kubesvc takes its place. They are registered, as
// stock registers them, with the default registry, which is the one the
// prometheus plugin serves.
const stockSubsystem = "kubernetes"

// Service kinds of the stock programming latency, as the DNS programming
// latency SLI names them.
const (
	stockClusterIP = iota
	stockHeadlessWithSelector
	stockHeadlessWithoutSelector
	numStockKinds
)

var stockKindNames = [numStockKinds]string{"cluster_ip", "headless_with_selector", "headless_without_selector"}

var (
	stockProgrammingLatency = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace:                   plugin.Namespace,
		Subsystem:                   stockSubsystem,
		Name:                        "dns_programming_duration_seconds",
		Help:                        "Histogram of the time (in seconds) it took to program a dns instance.",
		Buckets:                     prometheus.ExponentialBuckets(0.001, 2, 20), // 1 ms to ~17 minutes, as stock
		NativeHistogramBucketFactor: plugin.NativeHistogramBucketFactor,
	}, []string{"service_kind"})

	restRequestLatency = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace:                   plugin.Namespace,
		Subsystem:                   stockSubsystem,
		Name:                        "rest_client_request_duration_seconds",
		Help:                        "Request latency in seconds. Broken down by verb and host.",
		Buckets:                     prometheus.DefBuckets,
		NativeHistogramBucketFactor: plugin.NativeHistogramBucketFactor,
	}, []string{"verb", "host"})
	restRateLimiterLatency = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace:                   plugin.Namespace,
		Subsystem:                   stockSubsystem,
		Name:                        "rest_client_rate_limiter_duration_seconds",
		Help:                        "Client side rate limiter latency in seconds. Broken down by verb and host.",
		Buckets:                     prometheus.DefBuckets,
		NativeHistogramBucketFactor: plugin.NativeHistogramBucketFactor,
	}, []string{"verb", "host"})
	restRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: stockSubsystem,
		Name:      "rest_client_requests_total",
		Help:      "Number of HTTP requests, partitioned by status code, method, and host.",
	}, []string{"code", "method", "host"})
)

// stockProgramming holds the histograms resolved once, one per kind. Their
// series exist from the start, as kubesvc's own do.
var stockProgramming = func() (o [numStockKinds]prometheus.Observer) {
	for k := range o {
		o[k] = stockProgrammingLatency.WithLabelValues(stockKindNames[k])
	}
	return o
}()

// stockKind is s's service_kind. A service that is not headless counts as
// cluster_ip, as in stock. Stock calls every headless service's slice
// headless_with_selector, for only the EndpointSlice controller, which
// serves services with a selector, writes the trigger time; a slice someone
// wrote with it for a service without one is told apart here.
func stockKind(s *service) int {
	switch {
	case s.kind != kindHeadless:
		return stockClusterIP
	case s.is(svcSelector):
		return stockHeadlessWithSelector
	}
	return stockHeadlessWithoutSelector
}

// observeProgramming records that a change triggered at trigger (Unix
// nanoseconds) to s's endpoints is now served, in kubesvc's histogram and in
// stock's.
func observeProgramming(s *service, trigger int64) {
	d := time.Since(time.Unix(0, trigger)).Seconds()
	programmingLatency.WithLabelValues(kindNames[s.kind]).Observe(d)
	stockProgramming[stockKind(s)].Observe(d)
}

// client-go reports every REST request it makes (lists and watches) to the
// adapters registered with it; it takes the first registration of the
// process and ignores the rest, so this is done once, at start, and not per
// server block or reload.
func init() {
	metrics.Register(metrics.RegisterOpts{
		RequestLatency:     latencyMetric{restRequestLatency},
		RateLimiterLatency: latencyMetric{restRateLimiterLatency},
		RequestResult:      resultMetric{restRequests},
	})
}

type latencyMetric struct{ h *prometheus.HistogramVec }

func (m latencyMetric) Observe(_ context.Context, verb string, u url.URL, latency time.Duration) {
	m.h.WithLabelValues(verb, validLabel(u.Host)).Observe(latency.Seconds())
}

type resultMetric struct{ c *prometheus.CounterVec }

func (m resultMetric) Increment(_ context.Context, code, method, host string) {
	m.c.WithLabelValues(code, method, validLabel(host)).Inc()
}

// validLabel makes s a label value the exposition accepts, which must be
// UTF-8: a host that is not would make the whole scrape fail.
func validLabel(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}
