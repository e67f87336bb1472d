package kubesvc

import (
	"context"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

func serviceImport(ns, name string, typ mcs.ServiceImportType, ips []string, ports ...mcs.ServicePort) *mcs.ServiceImport {
	return &mcs.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
		Spec:       mcs.ServiceImportSpec{Type: typ, IPs: ips, Ports: ports},
	}
}

func importPort(name string, proto corev1.Protocol, port int32) mcs.ServicePort {
	return mcs.ServicePort{Name: name, Protocol: proto, Port: port}
}

// mcsSlice is a slice of import svc from cluster ("" for no such label).
func mcsSlice(ns, name, svc, cluster string, ports []discovery.EndpointPort, eps ...discovery.Endpoint) *discovery.EndpointSlice {
	sl := slice(ns, name, "", discovery.AddressTypeIPv4, ports, eps...)
	sl.Labels[mcs.LabelServiceName] = svc
	if cluster != "" {
		sl.Labels[mcs.LabelSourceCluster] = cluster
	}
	return sl
}

func multiclusterSeed() []runtime.Object {
	pg := []discovery.EndpointPort{slicePort("pg", corev1.ProtocolTCP, 5432)}
	return []runtime.Object{
		clusterIPSvc("default", "web", []string{"10.96.0.1"}, svcPort("http", corev1.ProtocolTCP, 80)),
		serviceImport("default", "web", mcs.ClusterSetIP, []string{"10.100.0.1"}, importPort("http", corev1.ProtocolTCP, 80)),
		serviceImport("default", "shared", mcs.ClusterSetIP, []string{"10.96.0.1"}, importPort("http", corev1.ProtocolTCP, 80)),
		serviceImport("default", "pending", mcs.ClusterSetIP, nil, importPort("http", corev1.ProtocolTCP, 80)),
		serviceImport("default", "odd", "LoadBalanced", []string{"10.100.0.9"}, importPort("http", corev1.ProtocolTCP, 80)),
		serviceImport("default", "badports", mcs.ClusterSetIP, []string{"10.100.0.2"}, importPort("http", corev1.ProtocolTCP, 0), importPort("x_y", "TCP", 81)),
		serviceImport("default", "db", mcs.Headless, nil, importPort("pg", corev1.ProtocolTCP, 5432)),
		mcsSlice("default", "mdb-a", "db", "cluster-a", pg, ep("10.1.0.1", "db-0", true), ep("10.1.0.2", "", true), ep("10.1.0.3", "", false)),
		mcsSlice("default", "mdb-b", "db", "cluster-b", pg, ep("10.2.0.1", "db-0", true)),
		mcsSlice("default", "mdb-c", "db", "", pg, ep("10.3.0.1", "db-0", true)), // no source cluster
	}
}

// multicluster: ServiceImports answer in the multicluster zone, per the
// multicluster DNS specification, beside the Services of the same names in
// the cluster zone.
func TestMulticlusterServiceImports(t *testing.T) {
	const (
		mc  = "default.svc.clusterset.local."
		db  = "db." + mc
		web = "web." + mc
	)
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local clusterset.local in-addr.arpa {\nmulticluster clusterset.local\nttl 30\n}", multiclusterSeed()...)
	csoa := []dns.RR{test.SOA("clusterset.local. 30 IN SOA ns.dns.clusterset.local. hostmaster.clusterset.local. 0 7200 1800 86400 30")}
	lsoa := []dns.RR{soa("cluster.local.")}
	runCases(t, k, []test.Case{
		{Qname: web, Qtype: dns.TypeA, Answer: []dns.RR{test.A(web + " 30 IN A 10.100.0.1")}},
		{Qname: "web.default.svc.cluster.local.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("web.default.svc.cluster.local. 30 IN A 10.96.0.1")}},
		{Qname: "_http._tcp." + web, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_http._tcp." + web + " 30 IN SRV 0 100 80 " + web)},
			Extra:  []dns.RR{test.A(web + " 30 IN A 10.100.0.1")}},
		{Qname: "pending." + mc, Qtype: dns.TypeA, Ns: csoa},
		{Qname: "_http._tcp.pending." + mc, Qtype: dns.TypeSRV, Ns: csoa},
		{Qname: "odd." + mc, Qtype: dns.TypeA, Ns: csoa},
		{Qname: "badports." + mc, Qtype: dns.TypeA, Answer: []dns.RR{test.A("badports." + mc + " 30 IN A 10.100.0.2")}},
		{Qname: "badports." + mc, Qtype: dns.TypeSRV, Ns: csoa},
		{Qname: db, Qtype: dns.TypeA, Answer: []dns.RR{
			test.A(db + " 30 IN A 10.1.0.1"), test.A(db + " 30 IN A 10.1.0.2"),
			test.A(db + " 30 IN A 10.2.0.1"), test.A(db + " 30 IN A 10.3.0.1")}},
		{Qname: "db-0.cluster-a." + db, Qtype: dns.TypeA, Answer: []dns.RR{test.A("db-0.cluster-a." + db + " 30 IN A 10.1.0.1")}},
		{Qname: "10-1-0-2.cluster-a." + db, Qtype: dns.TypeA, Answer: []dns.RR{test.A("10-1-0-2.cluster-a." + db + " 30 IN A 10.1.0.2")}},
		{Qname: "10-1-0-3.cluster-a." + db, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: csoa},
		{Qname: "cluster-a." + db, Qtype: dns.TypeA, Ns: csoa},
		{Qname: "db-0." + db, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: csoa},
		{Qname: "_pg._tcp." + db, Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV("_pg._tcp." + db + " 30 IN SRV 0 33 5432 10-1-0-2.cluster-a." + db),
				test.SRV("_pg._tcp." + db + " 30 IN SRV 0 33 5432 db-0.cluster-a." + db),
				test.SRV("_pg._tcp." + db + " 30 IN SRV 0 33 5432 db-0.cluster-b." + db)},
			Extra: []dns.RR{
				test.A("10-1-0-2.cluster-a." + db + " 30 IN A 10.1.0.2"),
				test.A("db-0.cluster-a." + db + " 30 IN A 10.1.0.1"),
				test.A("db-0.cluster-b." + db + " 30 IN A 10.2.0.1")}},
		{Qname: "db.default.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: lsoa},
		{Qname: "dns-version.clusterset.local.", Qtype: dns.TypeTXT, Answer: []dns.RR{test.TXT(`dns-version.clusterset.local. 28800 IN TXT "1.0.0"`)}},
		{Qname: "dns-version.cluster.local.", Qtype: dns.TypeTXT, Answer: []dns.RR{test.TXT(`dns-version.cluster.local. 28800 IN TXT "1.1.0"`)}},
		{Qname: mc, Qtype: dns.TypeA, Ns: csoa},
		// PTR of a clusterset IP, of an endpoint, and of an address that
		// has a cluster-local PTR already, which is kept alone.
		{Qname: "1.0.100.10.in-addr.arpa.", Qtype: dns.TypePTR, Answer: []dns.RR{test.PTR("1.0.100.10.in-addr.arpa. 30 IN PTR " + web)}},
		{Qname: "1.0.1.10.in-addr.arpa.", Qtype: dns.TypePTR, Answer: []dns.RR{test.PTR("1.0.1.10.in-addr.arpa. 30 IN PTR db-0.cluster-a." + db)}},
		{Qname: "1.0.96.10.in-addr.arpa.", Qtype: dns.TypePTR, Answer: []dns.RR{test.PTR("1.0.96.10.in-addr.arpa. 30 IN PTR web.default.svc.cluster.local.")}},
		{Qname: "1.0.3.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("in-addr.arpa.")}},
	})
}

// Without multicluster the imports are not watched and their names do not
// exist: clusterset.local is a zone of Services like any other.
func TestMulticlusterOff(t *testing.T) {
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local clusterset.local {\nttl 30\n}", multiclusterSeed()...)
	runCases(t, k, []test.Case{{Qname: "web.default.svc.clusterset.local.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("web.default.svc.clusterset.local. 30 IN A 10.96.0.1")}}})
	for _, name := range []string{"pending.default.svc.clusterset.local.", "db.default.svc.clusterset.local.", "db.default.svc.cluster.local."} {
		if got := rcodeOf(t, k, name, dns.TypeA); got != dns.RcodeNameError {
			t.Errorf("%s: %s, want NXDOMAIN", name, dns.RcodeToString[got])
		}
	}
}

// ServiceImports and the multicluster slices are watched only with
// multicluster, the slices through their label, whatever noendpoints says.
func TestMulticlusterWatchesOnlyWhenAsked(t *testing.T) {
	names := func(cfg *clientConfig) []string {
		var out []string
		for _, r := range cfg.watched() {
			out = append(out, r.name)
		}
		return out
	}
	if got := names(&clientConfig{}); slices.Contains(got, "serviceimports") || slices.Contains(got, "multicluster_endpointslices") {
		t.Errorf("without multicluster, watched %v", got)
	}
	got := names(&clientConfig{multicluster: true, noEndpoints: true})
	if want := []string{"services", "serviceimports", "multicluster_endpointslices"}; !slices.Equal(got, want) {
		t.Errorf("multicluster with noendpoints: watched %v, want %v", got, want)
	}
	if sel := multiclusterSlicesResource.selectors(&clientConfig{}); !slices.Equal(sel, []string{mcs.LabelServiceName}) || multiclusterSlicesResource.restName() != "endpointslices" {
		t.Errorf("multicluster slices: %s selected by %q", multiclusterSlicesResource.restName(), sel)
	}
}

// A clusterset PTR hidden by a cluster-local one for the same address is
// answered once the cluster-local one goes, and hidden again when it comes
// back (the specification keeps one PTR per address, the cluster's own).
func TestMulticlusterPTRYieldsToClusterLocal(t *testing.T) {
	const rev = "1.0.96.10.in-addr.arpa."
	k, client := newTestKubeSvc(t, "kubesvc cluster.local clusterset.local in-addr.arpa {\nmulticluster clusterset.local\nttl 30\n}", multiclusterSeed()...)
	ptrs := func() []string {
		_, m := ask(k, test.Case{Qname: rev, Qtype: dns.TypePTR})
		var out []string
		for _, rr := range m.Answer {
			out = append(out, rr.(*dns.PTR).Ptr)
		}
		return out
	}
	ctx := context.Background()
	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the import's PTR", func() bool { return slices.Equal(ptrs(), []string{"shared.default.svc.clusterset.local."}) })
	svc := clusterIPSvc("default", "web", []string{"10.96.0.1"}, svcPort("http", corev1.ProtocolTCP, 80))
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Service's PTR alone", func() bool { return slices.Equal(ptrs(), []string{"web.default.svc.cluster.local."}) })
}

// A hostname that one cluster's slices with other ports give (db-0 at
// 10.1.0.1 serving pg, at 10.1.0.2 serving admin): an SRV answer's
// additional records are the addresses behind its records, as stock's are.
func TestMulticlusterSRVAdditionalOnlyAddressesServingThePort(t *testing.T) {
	const db = "db.default.svc.clusterset.local."
	const db0 = "db-0.cluster-a." + db
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local clusterset.local {\nmulticluster clusterset.local\nttl 30\n}",
		serviceImport("default", "db", mcs.Headless, nil, importPort("pg", corev1.ProtocolTCP, 5432)),
		mcsSlice("default", "mdb-a", "db", "cluster-a", []discovery.EndpointPort{slicePort("pg", corev1.ProtocolTCP, 5432)}, ep("10.1.0.1", "db-0", true)),
		mcsSlice("default", "mdb-b", "db", "cluster-a", []discovery.EndpointPort{slicePort("admin", corev1.ProtocolTCP, 9000)}, ep("10.1.0.2", "db-0", true)))
	runCases(t, k, []test.Case{
		{Qname: "_pg._tcp." + db, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_pg._tcp." + db + " 30 IN SRV 0 100 5432 " + db0)},
			Extra:  []dns.RR{test.A(db0 + " 30 IN A 10.1.0.1")}},
		{Qname: "_admin._tcp." + db, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_admin._tcp." + db + " 30 IN SRV 0 100 9000 " + db0)},
			Extra:  []dns.RR{test.A(db0 + " 30 IN A 10.1.0.2")}},
		{Qname: db, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV(db + " 30 IN SRV 0 50 5432 " + db0), test.SRV(db + " 30 IN SRV 0 50 9000 " + db0)},
			Extra:  []dns.RR{test.A(db0 + " 30 IN A 10.1.0.1"), test.A(db0 + " 30 IN A 10.1.0.2")}},
	})
}
