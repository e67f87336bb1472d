package kubesvc

import (
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
		{"names", testutil.ToFloat64(indexNames), float64(k.w.ix.size())},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if testutil.ToFloat64(apiContact[0]) == 0 {
		t.Errorf("api_last_contact_timestamp_seconds not set")
	}
}

// A reload starts a new instance and stops the old one: the gauges must
// count the new instance's services once.
func TestMetricsAfterReload(t *testing.T) {
	base := testutil.ToFloat64(indexServices.WithLabelValues("headless"))
	old, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	newTestKubeSvc(t, clusterCorefile, seed()...)
	old.w.stop()
	if got := testutil.ToFloat64(indexServices.WithLabelValues("headless")) - base; got != 2 {
		t.Errorf("headless services after a reload: %v, want 2 (sample-headless, pnr)", got)
	}
}
