package kubesvc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The answers counters move by one per answer, and the gauges show this
// instance: each check reads a delta, or a value only this test's instance
// can have set (the gauges are process-wide, and earlier tests' instances
// set them too).
func TestMetrics(t *testing.T) {
	before := testutil.ToFloat64(answers.WithLabelValues("A", "success"))
	nx := testutil.ToFloat64(answers.WithLabelValues("A", "nxdomain"))
	nodata := testutil.ToFloat64(answers.WithLabelValues("AAAA", "nodata"))
	names := testutil.ToFloat64(indexNames)
	informerSynced.WithLabelValues("services").Set(-1)
	informerSynced.WithLabelValues("endpointslices").Set(-1)
	servicesResource.contact.Set(0)
	endpointSlicesResource.contact.Set(0)
	start := float64(time.Now().Unix())
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	ask(k, test.Case{Qname: "sample-clusterip.default.svc.cluster.local.", Qtype: dns.TypeA})
	ask(k, test.Case{Qname: "nope.default.svc.cluster.local.", Qtype: dns.TypeA})
	ask(k, test.Case{Qname: "sample-clusterip.default.svc.cluster.local.", Qtype: dns.TypeAAAA})
	k.w.mu.Lock()
	held := float64(countNames(k))
	k.w.mu.Unlock()
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"A success", testutil.ToFloat64(answers.WithLabelValues("A", "success")) - before, 1},
		{"A nxdomain", testutil.ToFloat64(answers.WithLabelValues("A", "nxdomain")) - nx, 1},
		{"AAAA nodata", testutil.ToFloat64(answers.WithLabelValues("AAAA", "nodata")) - nodata, 1},
		{"services synced", testutil.ToFloat64(informerSynced.WithLabelValues("services")), 1},
		{"endpointslices synced", testutil.ToFloat64(informerSynced.WithLabelValues("endpointslices")), 1},
		{"names added", testutil.ToFloat64(indexNames) - names, held},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, r := range []*resource{servicesResource, endpointSlicesResource} {
		if got := testutil.ToFloat64(r.contact); got < start {
			t.Errorf("api_last_contact_timestamp_seconds{resource=%q}: %v, want the time of this test's lists (%v or later)", r.name, got, start)
		}
	}
	k.w.stop()
	if got := testutil.ToFloat64(indexNames) - names; got != 0 {
		t.Errorf("index_names after the instance stopped: %v more than before it started, want 0", got)
	}
}

// countNames counts the names shard by shard, independently of the index's
// own count.
func countNames(k *KubeSvc) int {
	ix := k.w.ix
	n := 0
	for i := range ix.shards {
		n += len(*ix.shards[i].Load())
	}
	// A service's names, in each forward zone: those with records and the
	// _<proto> parents of its SRV names; and its addresses' reverse names.
	for i := range ix.svcs {
		for slot := range ix.svcs[i].Load().All() {
			key, ref := slotKey(slot), slot.ref()
			for _, zone := range k.zones {
				if zone.reverse {
					continue
				}
				parents := map[string]bool{}
				k.names(ref, &caseSlabs{}, within(key+".svc", zone.name), func(name string, _ []dns.RR) {
					n++
					if name[0] == '_' {
						parents[name[strings.IndexByte(name, '.')+1:]] = true
					}
				})
				n += len(parents)
			}
		}
		n += ix.ptrs[i].Load().len()
	}
	return n
}

// The index's name count follows creations, updates and deletions.
func TestIndexNameCount(t *testing.T) {
	k, client := newTestKubeSvc(t, clusterCorefile, seed()...)
	ctx := context.Background()
	svc := clusterIPSvc("fresh", "one", []string{"10.96.7.7"}, svcPort("http", corev1.ProtocolTCP, 80))
	if _, err := client.CoreV1().Services("fresh").Create(ctx, svc, metav1Create); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new service", func() bool { return indexHas(k, "one.fresh.svc.cluster.local.") })
	if err := client.CoreV1().Services("default").Delete(ctx, "sample-clusterip", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion", func() bool { return !indexHas(k, "sample-clusterip.default.svc.cluster.local.") })
	k.w.mu.Lock()
	defer k.w.mu.Unlock()
	if got, want := k.w.ix.size(), countNames(k); got != want {
		t.Errorf("index counts %d names, its shards hold %d", got, want)
	}
}

// A reload starts a new instance and stops the old one: the gauges must
// count the new instance's services once.
func TestMetricsAfterReload(t *testing.T) {
	base := testutil.ToFloat64(indexServices.WithLabelValues("headless"))
	names := testutil.ToFloat64(indexNames)
	old, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	old.w.stop()
	want := 0
	for _, o := range seed() {
		if s, ok := o.(*corev1.Service); ok && s.Spec.ClusterIP == corev1.ClusterIPNone {
			want++
		}
	}
	if got := testutil.ToFloat64(indexServices.WithLabelValues("headless")) - base; got != float64(want) {
		t.Errorf("headless services after a reload: %v, want %d, the seed's", got, want)
	}
	k.w.mu.Lock()
	defer k.w.mu.Unlock()
	if got, want := testutil.ToFloat64(indexNames)-names, float64(countNames(k)); got != want {
		t.Errorf("index_names after a reload: %v more than before, want the new instance's %v", got, want)
	}
}

// The programming latency histogram has its series before any slice
// carrying a trigger time arrives.
func TestProgrammingLatencySeries(t *testing.T) {
	if n := testutil.CollectAndCount(programmingLatency); n < 2 {
		t.Errorf("dns_programming_duration_seconds series: %d, want clusterip and headless from the start", n)
	}
}
