package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stockFamilies are the families the stock kubernetes plugin exports
// (plugin/kubernetes/metrics.go, plugin/kubernetes/object/metrics.go of
// CoreDNS 1.15): its programming latency and client-go's REST metrics.
// client-go times and rate-limits plain requests only, not watches: while
// the API server streams the informers' lists as watches, neither server
// has a series of the two latency histograms, and each family shows up in
// both or in neither (the unit tests show kubesvc's filled by lists).
var stockFamilies = []struct {
	name   string
	always bool // stock exports it in this test
}{
	{"coredns_kubernetes_dns_programming_duration_seconds", true},
	{"coredns_kubernetes_rest_client_requests_total", true},
	{"coredns_kubernetes_rest_client_request_duration_seconds", false},
	{"coredns_kubernetes_rest_client_rate_limiter_duration_seconds", false},
}

var scrapeClient = &http.Client{Timeout: 2 * time.Second}

// scrapeFamilies reads every metric family s's prometheus plugin exposes.
func scrapeFamilies(t *testing.T, s *coredns.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := scrapeClient.Get(s.Ports.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", s.Ports.MetricsURL(), resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", s.Ports.MetricsURL(), err)
	}
	return mfs
}

// seriesKey is a series' labels as name="value" pairs, sorted.
func seriesKey(m *dto.Metric) string {
	var ls []string
	for _, l := range m.GetLabel() {
		ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(ls)
	return "{" + strings.Join(ls, ",") + "}"
}

// counts is each series' count (a histogram's sample count, a counter's
// value) of family name, by seriesKey.
func counts(mfs map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mfs[name].GetMetric() {
		switch {
		case m.Histogram != nil:
			out[seriesKey(m)] = float64(m.GetHistogram().GetSampleCount())
		case m.Counter != nil:
			out[seriesKey(m)] = m.GetCounter().GetValue()
		}
	}
	return out
}

// labelNames are a family's label names, sorted, and its type.
func labelNames(mf *dto.MetricFamily) string {
	names := map[string]bool{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			names[l.GetName()] = true
		}
	}
	var out []string
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return mf.GetType().String() + " " + strings.Join(out, ",")
}

// sameFamilies fails t where a family of stock's is missing from kubesvc's
// exposition, has another type or other label names, or lacks a series
// (label values) stock has.
func sameFamilies(t *testing.T, kubesvc, stock map[string]*dto.MetricFamily) {
	t.Helper()
	for _, f := range stockFamilies {
		name := f.name
		s, k := stock[name], kubesvc[name]
		switch {
		case s == nil && f.always:
			t.Errorf("stock exports no %s: the test does not see what it compares", name)
			continue
		case s == nil && k != nil:
			t.Errorf("kubesvc exports %s %v; stock does not", name, keys(counts(kubesvc, name)))
			continue
		case s == nil:
			continue
		case k == nil:
			t.Errorf("kubesvc exports no %s; stock does", name)
			continue
		case labelNames(k) != labelNames(s):
			t.Errorf("%s: kubesvc's is %s, stock's %s", name, labelNames(k), labelNames(s))
		}
		ks := counts(kubesvc, name)
		for series := range counts(stock, name) {
			if _, ok := ks[series]; !ok {
				t.Errorf("%s%s: stock has the series, kubesvc not (it has %v)", name, series, keys(ks))
			}
		}
	}
}

func keys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// annotate updates slice name in ns with a fresh last-change-trigger-time,
// as the EndpointSlice controller writes it with each change it makes.
func annotate(t *testing.T, ns, name string, change func(*discoveryv1.EndpointSlice)) {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	sl, err := kube.Client.DiscoveryV1().EndpointSlices(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sl.Annotations == nil {
		sl.Annotations = map[string]string{}
	}
	sl.Annotations[corev1.EndpointsLastChangeTriggerTime] = time.Now().UTC().Format(time.RFC3339Nano)
	if change != nil {
		change(sl)
	}
	if _, err := kube.Client.DiscoveryV1().EndpointSlices(ns).Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update endpointslice %s/%s: %v", ns, name, err)
	}
}

const programming = "coredns_kubernetes_dns_programming_duration_seconds"

// programmed waits until s's programming-latency histogram holds more
// observations in total than before, and returns them by service_kind.
func programmed(t *testing.T, who string, s *coredns.Server, before map[string]float64) map[string]float64 {
	t.Helper()
	total := func(m map[string]float64) (n float64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	var now map[string]float64
	eventually(t, 30*time.Second, who+" observes the change", func() (bool, string) {
		now = counts(scrapeFamilies(t, s), programming)
		return total(now) > total(before), fmt.Sprintf("%v, before %v", now, before)
	})
	time.Sleep(200 * time.Millisecond) // a second observation would show now
	now = counts(scrapeFamilies(t, s), programming)
	moved := map[string]float64{}
	for k, v := range now {
		if d := v - before[k]; d != 0 {
			moved[k] = d
		}
	}
	return moved
}

// Stock's metric families are kubesvc's too, with stock's names, label
// names and label values, and move the same way for the same events: a
// slice change with the EndpointSlice controller's trigger time adds one
// observation under the same service_kind in both, and both count their
// REST requests to the API server under the same code, method and host.
func TestDifferentialStockMetricFamilies(t *testing.T) {
	suite(t)
	const ns = "e2e-stock-metrics"
	namespace(t, ns)
	createService(t, clusterIPService(ns, "web", "http", 80))
	createService(t, headlessService(ns, "hl", "http", 8080))
	bare := headlessService(ns, "bare", "http", 8080)
	bare.Spec.Selector = nil
	createService(t, bare)
	// kubesvc does not watch the controller's slices of services with a
	// cluster IP, whose endpoints change no answer (README, Metrics): the
	// cluster IP case is a slice someone else manages, which both see.
	createSlice(t, slice(ns, "web-a", "web", "http", 80, ep{ip: "10.41.0.1"}))
	createSlice(t, controllerSlice(slice(ns, "hl-a", "hl", "http", 8080, ep{ip: "10.41.1.1"}), true))
	createSlice(t, slice(ns, "bare-a", "bare", "http", 8080, ep{ip: "10.41.2.1"}))
	kubesvc, stock := differentialPair(t, "server:prometheus")
	for _, s := range []*coredns.Server{kubesvc, stock} {
		eventually(t, 30*time.Second, "the objects are served", answers(s.Ports.DNSAddr(),
			"bare.e2e-stock-metrics.svc.cluster.local.", dns.TypeA, want{answer: []string{"* * IN A 10.41.2.1"}}))
	}

	for _, ev := range []struct {
		what   string
		slice  string
		change func(*discoveryv1.EndpointSlice)
		kind   string // the series that moves in both
	}{
		{"cluster IP slice", "web-a", func(sl *discoveryv1.EndpointSlice) { sl.Endpoints[0].Addresses[0] = "10.41.0.2" }, `{service_kind="cluster_ip"}`},
		{"headless slice", "hl-a", func(sl *discoveryv1.EndpointSlice) { sl.Endpoints[0].Addresses[0] = "10.41.1.2" }, `{service_kind="headless_with_selector"}`},
		{"annotation only", "hl-a", nil, `{service_kind="headless_with_selector"}`},
	} {
		kb, sb := counts(scrapeFamilies(t, kubesvc), programming), counts(scrapeFamilies(t, stock), programming)
		annotate(t, ns, ev.slice, ev.change)
		want := map[string]float64{ev.kind: 1}
		if got := programmed(t, "kubesvc", kubesvc, kb); !maps.Equal(got, want) {
			t.Errorf("%s: kubesvc's %s moved by %v, want %v", ev.what, programming, got, want)
		}
		if got := programmed(t, "stock", stock, sb); !maps.Equal(got, want) {
			t.Errorf("%s: stock's %s moved by %v, want %v", ev.what, programming, got, want)
		}
	}

	// A service without a selector: stock calls every headless service's
	// slice headless_with_selector, kubesvc tells it apart. Both observe it.
	kb, sb := counts(scrapeFamilies(t, kubesvc), programming), counts(scrapeFamilies(t, stock), programming)
	annotate(t, ns, "bare-a", nil)
	if got, want := programmed(t, "kubesvc", kubesvc, kb), map[string]float64{`{service_kind="headless_without_selector"}`: 1}; !maps.Equal(got, want) {
		t.Errorf("selector-less headless slice: kubesvc's %s moved by %v, want %v", programming, got, want)
	}
	if got, want := programmed(t, "stock", stock, sb), map[string]float64{`{service_kind="headless_with_selector"}`: 1}; !maps.Equal(got, want) {
		t.Errorf("selector-less headless slice: stock's %s moved by %v, want %v (if stock now tells it apart, kubesvc's README needs no note)", programming, got, want)
	}

	k, s := scrapeFamilies(t, kubesvc), scrapeFamilies(t, stock)
	sameFamilies(t, k, s)
	// Both started from nothing: their lists and watches of the API server
	// were counted, under the same labels (the API server's address).
	const requests = "coredns_kubernetes_rest_client_requests_total"
	u, err := url.Parse(kube.CoreDNS.Host)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{code="200",host=%q,method="GET"}`, u.Host)
	for who, mfs := range map[string]map[string]*dto.MetricFamily{"kubesvc": k, "stock": s} {
		if got := counts(mfs, requests); got[want] == 0 || len(got) != 1 {
			t.Errorf("%s: %s %v, want requests counted under %s only", who, requests, got, want)
		}
	}
}
