package kubesvc

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func labelledNamespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, ResourceVersion: "1"}}
}

const namespaceLabelsCorefile = `kubesvc cluster.local in-addr.arpa {
	pods insecure
	namespace_labels dns=served
}`

// rcodeOf asks name and returns the rcode of the reply.
func rcodeOf(t *testing.T, k *KubeSvc, name string, qtype uint16) int {
	t.Helper()
	_, m := ask(k, test.Case{Qname: name, Qtype: qtype})
	if m == nil {
		t.Fatalf("%s: no answer written", name)
	}
	return m.Rcode
}

// With namespace_labels only the selected namespaces' names exist: their
// services, reverse names, <ns>.svc and <ns>.pod; a namespace that comes
// to match gains them, one that stops matching loses them.
func TestNamespaceLabelsServeOnlySelectedNamespaces(t *testing.T) {
	clusterIPs, headless := indexServices.WithLabelValues("clusterip"), indexServices.WithLabelValues("headless")
	ip0, hl0 := testutil.ToFloat64(clusterIPs), testutil.ToFloat64(headless)
	counted := func(stage string, wantClusterIP, wantHeadless float64) {
		t.Helper()
		if got := testutil.ToFloat64(clusterIPs) - ip0; got != wantClusterIP {
			t.Errorf("%s: services{type=clusterip} %v, want %v (served ones only)", stage, got, wantClusterIP)
		}
		if got := testutil.ToFloat64(headless) - hl0; got != wantHeadless {
			t.Errorf("%s: services{type=headless} %v, want %v (served ones only)", stage, got, wantHeadless)
		}
	}
	k, client := newTestKubeSvc(t, namespaceLabelsCorefile,
		labelledNamespace("in", map[string]string{"dns": "served"}),
		labelledNamespace("out", map[string]string{"dns": "no"}),
		clusterIPSvc("in", "web", []string{"10.0.0.1"}),
		clusterIPSvc("out", "web", []string{"10.0.0.2"}),
		headlessSvc("out", "db"),
		slice("out", "db-1", "db", discovery.AddressTypeIPv4, nil, ep("10.1.0.1", "", true)),
	)
	want := map[string]int{
		"web.in.svc.cluster.local.":           dns.RcodeSuccess,
		"in.svc.cluster.local.":               dns.RcodeSuccess,
		"1.0.0.10.in-addr.arpa.":              dns.RcodeSuccess,
		"10-0-0-9.in.pod.cluster.local.":      dns.RcodeSuccess,
		"in.pod.cluster.local.":               dns.RcodeSuccess,
		"web.out.svc.cluster.local.":          dns.RcodeNameError,
		"db.out.svc.cluster.local.":           dns.RcodeNameError,
		"10-1-0-1.db.out.svc.cluster.local.":  dns.RcodeNameError,
		"out.svc.cluster.local.":              dns.RcodeNameError,
		"2.0.0.10.in-addr.arpa.":              dns.RcodeNameError,
		"1.0.1.10.in-addr.arpa.":              dns.RcodeNameError,
		"10-0-0-9.out.pod.cluster.local.":     dns.RcodeNameError,
		"out.pod.cluster.local.":              dns.RcodeNameError,
		"10-0-0-9.missing.pod.cluster.local.": dns.RcodeNameError,
	}
	check := func(stage string, want map[string]int) {
		t.Helper()
		for name, rcode := range want {
			qtype := dns.TypeA
			if strings.HasSuffix(name, ".arpa.") {
				qtype = dns.TypePTR
			}
			if got := rcodeOf(t, k, name, qtype); got != rcode {
				t.Errorf("%s: %s %s: %s, want %s", stage, dns.TypeToString[qtype], name, dns.RcodeToString[got], dns.RcodeToString[rcode])
			}
		}
	}
	check("at start", want)
	counted("at start", 1, 0)

	// The fake clientset's watch does not filter by labels as the API
	// server does; what the server sends is an added namespace when it
	// comes to match, a deleted one when it stops.
	ctx := context.Background()
	if err := client.CoreV1().Namespaces().Delete(ctx, "in", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, labelledNamespace("out2", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "namespace in unserved", func() bool { return !indexHas(k, "web.in.svc.cluster.local.") })
	flipped := map[string]int{}
	for name, rcode := range want {
		switch {
		case strings.Contains(name, ".in.") || strings.HasPrefix(name, "in.") || name == "1.0.0.10.in-addr.arpa.":
			flipped[name] = dns.RcodeNameError
		default:
			flipped[name] = rcode
		}
	}
	check("after namespace in stopped matching", flipped)
	counted("after namespace in stopped matching", 0, 0)

	if _, err := client.CoreV1().Namespaces().Create(ctx, labelledNamespace("out", map[string]string{"dns": "served"}), metav1.CreateOptions{}); err == nil {
		t.Fatal("the fake let a namespace be created twice")
	}
	if err := client.CoreV1().Namespaces().Delete(ctx, "out", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, labelledNamespace("out", map[string]string{"dns": "served"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "namespace out served", func() bool { return indexHas(k, "web.out.svc.cluster.local.") })
	check("after namespace out came to match", map[string]int{
		"web.out.svc.cluster.local.":         dns.RcodeSuccess,
		"db.out.svc.cluster.local.":          dns.RcodeSuccess,
		"10-1-0-1.db.out.svc.cluster.local.": dns.RcodeSuccess,
		"out.svc.cluster.local.":             dns.RcodeSuccess,
		"2.0.0.10.in-addr.arpa.":             dns.RcodeSuccess,
		"1.0.1.10.in-addr.arpa.":             dns.RcodeSuccess,
		"10-0-0-9.out.pod.cluster.local.":    dns.RcodeSuccess,
		"web.in.svc.cluster.local.":          dns.RcodeNameError,
	})
	counted("after namespace out came to match", 1, 1)
}

// Without namespace_labels no Namespace is watched (and none needs to be
// readable); with noendpoints no EndpointSlice is.
func TestWatchedResourcesFollowTheCorefile(t *testing.T) {
	names := func(cfg *clientConfig) string {
		var out []string
		for _, r := range cfg.watched() {
			out = append(out, r.name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		cfg  clientConfig
		want string
	}{
		{clientConfig{}, "services,endpointslices"},
		{clientConfig{noEndpoints: true}, "services"},
		{clientConfig{namespaceLabels: "dns=served"}, "services,endpointslices,namespaces"},
	} {
		if got := names(&tc.cfg); got != tc.want {
			t.Errorf("%+v: watches %s, want %s", tc.cfg, got, tc.want)
		}
	}
}

// restAPI knows the resources by their descriptions: an unknown one is an
// error, not a list of some other type.
func TestRestAPIRefusesUnknownResource(t *testing.T) {
	a := restAPIAt(t, "http://127.0.0.1:1")
	if _, err := a.list(context.Background(), "pods", "", metav1.ListOptions{}); err == nil || !strings.Contains(err.Error(), `"pods"`) {
		t.Errorf("list of pods: %v, want an error naming the resource", err)
	}
	if _, err := a.watch(context.Background(), "pods", "", metav1.ListOptions{}); err == nil || !strings.Contains(err.Error(), `"pods"`) {
		t.Errorf("watch of pods: %v, want an error naming the resource", err)
	}
	if _, err := a.list(context.Background(), "namespaces", "default", metav1.ListOptions{}); err == nil {
		t.Error("namespaces listed in a namespace: no error, want one (they are cluster-scoped)")
	}
}

// A stopped watcher has taken its names out of the index_names gauge; a
// Namespace event that arrives after stop (a shared informer's handler is
// removed without waiting for a notification in flight) must not count
// the index's names in again, as Service and EndpointSlice events do not.
func TestNamespaceEventAfterStopLeavesNamesGaugeBe(t *testing.T) {
	w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 30}, true)
	w.namespaceHandler() // namespace_labels: only the namespaces heard of are served
	w.setNamespace("served", true)
	for i := range 5 {
		s := transformedService(t, clusterIPSvc("served", fmt.Sprint("svc-", i), []string{fmt.Sprintf("10.96.7.%d", i+1)}))
		w.setService(s.stateKey(), s)
	}
	late := transformedService(t, clusterIPSvc("late", "svc", []string{"10.96.7.99"}))
	w.setService(late.stateKey(), late) // its namespace is not served yet
	w.stop()
	before := testutil.ToFloat64(indexNames)
	w.setNamespace("late", true)
	w.setNamespace("served", false)
	if got := testutil.ToFloat64(indexNames) - before; got != 0 {
		t.Errorf("namespace events after stop moved coredns_kubesvc_index_names by %v (the index holds %d names), want 0", got, w.ix.size())
	}
}
