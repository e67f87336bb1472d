package kubesvc

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// sampleCount is how many observations histogram h holds.
func sampleCount(t *testing.T, h prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := h.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// A slice change carrying the EndpointSlice controller's trigger time is
// observed once in stock's dns_programming_duration_seconds, under the
// service_kind stock's dashboards know, and once in kubesvc's own histogram.
func TestStockProgrammingLatencyServiceKind(t *testing.T) {
	selector := func(s *corev1.Service) *corev1.Service {
		s.Spec.Selector = map[string]string{"app": s.Name}
		return s
	}
	web := []discovery.EndpointPort{slicePort("http", "TCP", 8080)}
	for _, tc := range []struct {
		name    string
		svc     *corev1.Service
		trigger bool
		stock   string // "": no observation
		own     string
	}{
		{"cluster IP with a selector", selector(clusterIPSvc("ns", "web", []string{"10.96.0.10"})), true, "cluster_ip", "clusterip"},
		{"cluster IP without a selector", clusterIPSvc("ns", "web", []string{"10.96.0.10"}), true, "cluster_ip", "clusterip"},
		{"headless with a selector", selector(headlessSvc("ns", "web")), true, "headless_with_selector", "headless"},
		{"headless without a selector", headlessSvc("ns", "web"), true, "headless_without_selector", "headless"},
		{"ExternalName", externalSvc("ns", "web", "example.com"), true, "cluster_ip", "externalname"},
		{"no trigger time", selector(headlessSvc("ns", "web")), false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 30}, false)
			s, _ := toService(tc.svc)
			w.setService("ns/web", s.(*service))
			w.ix.publish()
			sl := slice("ns", "web-x", "web", discovery.AddressTypeIPv4, web, ep("10.1.0.1", "", true))
			if tc.trigger {
				sl.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: time.Now().Add(-time.Second).Format(time.RFC3339Nano)}
			}
			stockBefore := map[string]uint64{}
			for k, n := range stockKindNames {
				stockBefore[n] = sampleCount(t, stockProgramming[k])
			}
			ownBefore := map[string]uint64{}
			for _, n := range kindNames {
				ownBefore[n] = sampleCount(t, programmingLatency.WithLabelValues(n))
			}
			tr := transformed(sl, 2)
			w.setSlice(tr.serviceKey(), tr.name(), tr)
			for k, n := range stockKindNames {
				want := uint64(0)
				if n == tc.stock {
					want = 1
				}
				if got := sampleCount(t, stockProgramming[k]) - stockBefore[n]; got != want {
					t.Errorf("coredns_kubernetes_dns_programming_duration_seconds{service_kind=%q}: %d new observations, want %d", n, got, want)
				}
			}
			for _, n := range kindNames {
				want := uint64(0)
				if n == tc.own {
					want = 1
				}
				if got := sampleCount(t, programmingLatency.WithLabelValues(n)) - ownBefore[n]; got != want {
					t.Errorf("coredns_kubesvc_dns_programming_duration_seconds{service_kind=%q}: %d new observations, want %d", n, got, want)
				}
			}
		})
	}
}

// The plugin's REST requests are counted in stock's client-go families,
// labelled with the status code, the method and the API server's host.
func TestRESTRequestsCountedInStockFamilies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/services":
			fmt.Fprint(w, `{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}`)
		default:
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}`)
		}
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Host
	ok200 := restRequests.WithLabelValues("200", "GET", host)
	forbidden := restRequests.WithLabelValues("403", "GET", host)
	latency := restRequestLatency.WithLabelValues("GET", host)
	limiter := restRateLimiterLatency.WithLabelValues("GET", host)
	before := []float64{testutil.ToFloat64(ok200), testutil.ToFloat64(forbidden)}
	latencyBefore, limiterBefore := sampleCount(t, latency), sampleCount(t, limiter)

	a := restAPIAt(t, srv.URL)
	if _, err := a.list(context.Background(), "services", "", metav1.ListOptions{}); err != nil {
		t.Fatalf("list services: %v", err)
	}
	if _, err := a.list(context.Background(), "endpointslices", "", metav1.ListOptions{}); err == nil {
		t.Fatal("list endpointslices: no error, want Forbidden")
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{`rest_client_requests_total{code="200",method="GET"}`, testutil.ToFloat64(ok200) - before[0], 1},
		{`rest_client_requests_total{code="403",method="GET"}`, testutil.ToFloat64(forbidden) - before[1], 1},
		{`rest_client_request_duration_seconds{verb="GET"} count`, float64(sampleCount(t, latency) - latencyBefore), 2},
		{`rest_client_rate_limiter_duration_seconds{verb="GET"} count`, float64(sampleCount(t, limiter) - limiterBefore), 2},
	} {
		if c.got != c.want {
			t.Errorf("%s, host %q: rose by %v, want %v", c.name, host, c.got, c.want)
		}
	}
}
