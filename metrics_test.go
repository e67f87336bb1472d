package kubesvc

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMetrics(t *testing.T) {
	before := testutil.ToFloat64(answers.WithLabelValues("A", "success"))
	nx := testutil.ToFloat64(answers.WithLabelValues("A", "nxdomain"))
	nodata := testutil.ToFloat64(answers.WithLabelValues("AAAA", "nodata"))
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	ask(k, test.Case{Qname: "sample-clusterip.default.svc.cluster.local.", Qtype: dns.TypeA})
	ask(k, test.Case{Qname: "nope.default.svc.cluster.local.", Qtype: dns.TypeA})
	ask(k, test.Case{Qname: "sample-clusterip.default.svc.cluster.local.", Qtype: dns.TypeAAAA})
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"A success", testutil.ToFloat64(answers.WithLabelValues("A", "success")) - before, 1},
		{"A nxdomain", testutil.ToFloat64(answers.WithLabelValues("A", "nxdomain")) - nx, 1},
		{"AAAA nodata", testutil.ToFloat64(answers.WithLabelValues("AAAA", "nodata")) - nodata, 1},
		{"synced", testutil.ToFloat64(informerSynced.WithLabelValues("services")), 1},
		{"names", testutil.ToFloat64(indexNames), float64(countNames(k.w.ix))},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if testutil.ToFloat64(apiContact[0]) == 0 {
		t.Errorf("api_last_contact_timestamp_seconds not set")
	}
}

// countNames counts the names shard by shard, independently of the index's
// own count.
func countNames(ix *index) int {
	n := 0
	for i := range ix.shards {
		n += len(*ix.shards[i].Load())
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
	waitFor(t, "the new service", func() bool { return k.w.ix.lookup("one.fresh.svc.cluster.local.") != nil })
	if err := client.CoreV1().Services("default").Delete(ctx, "sample-clusterip", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion", func() bool { return k.w.ix.lookup("sample-clusterip.default.svc.cluster.local.") == nil })
	k.w.mu.Lock()
	defer k.w.mu.Unlock()
	if got, want := k.w.ix.size(), countNames(k.w.ix); got != want {
		t.Errorf("index counts %d names, its shards hold %d", got, want)
	}
}

// A reload starts a new instance and stops the old one: the gauges must
// count the new instance's services once.
func TestMetricsAfterReload(t *testing.T) {
	base := testutil.ToFloat64(indexServices.WithLabelValues("headless"))
	old, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	newTestKubeSvc(t, clusterCorefile, seed()...)
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
}

// The programming latency histogram has its series before any slice
// carrying a trigger time arrives.
func TestProgrammingLatencySeries(t *testing.T) {
	if n := testutil.CollectAndCount(programmingLatency); n < 2 {
		t.Errorf("dns_programming_duration_seconds series: %d, want clusterip and headless from the start", n)
	}
}
