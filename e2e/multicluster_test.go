package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

var serviceImports = mcs.SchemeGroupVersion.WithResource("serviceimports")

// createServiceImport creates a ServiceImport (deleted after t), through the
// dynamic client: the API server serves it from the CRD the suite installs.
func createServiceImport(t *testing.T, ns, name string, typ mcs.ServiceImportType, ips []string, ports ...mcs.ServicePort) {
	t.Helper()
	si := &mcs.ServiceImport{
		TypeMeta:   metav1.TypeMeta{APIVersion: mcs.SchemeGroupVersion.String(), Kind: "ServiceImport"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       mcs.ServiceImportSpec{Type: typ, IPs: ips, Ports: ports},
	}
	if si.Spec.Ports == nil {
		si.Spec.Ports = []mcs.ServicePort{}
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(si)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(kube.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(serviceImports).Namespace(ns).Create(ctxFor(t, 10*time.Second), &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create serviceimport %s/%s: %v", ns, name, err)
	}
	t.Cleanup(func() { deleteServiceImport(t, ns, name) })
}

func deleteServiceImport(t *testing.T, ns, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // also from a cleanup
	defer cancel()
	dyn, err := dynamic.NewForConfig(kube.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := dyn.Resource(serviceImports).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete serviceimport %s/%s: %v", ns, name, err)
	}
}

// mcsSlice is an EndpointSlice of import svc from cluster, labelled as the
// Multi-Cluster Services API labels them (and not for any Service).
func mcsSlice(ns, name, svc, cluster, portName string, port int32, eps ...ep) *discoveryv1.EndpointSlice {
	sl := slice(ns, name, svc, portName, port, eps...)
	sl.Labels = map[string]string{
		mcs.LabelServiceName: svc, mcs.LabelSourceCluster: cluster,
		discoveryv1.LabelManagedBy: "mcs-controller.e2e.example",
	}
	return sl
}

func mcsPort(name string, proto corev1.Protocol, port int32) mcs.ServicePort {
	return mcs.ServicePort{Name: name, Protocol: proto, Port: port}
}

// multicluster ZONES: ServiceImports and their EndpointSlices answer in
// clusterset.local as stock answers them, beside the Services of the same
// names in cluster.local; where the multicluster DNS specification asks
// other records than stock gives, kubesvc follows the specification.
func TestDifferentialMulticluster(t *testing.T) {
	suite(t)
	const ns = "e2e-mcs"
	namespace(t, ns)
	createService(t, clusterIPService(ns, "web", "http", 80))
	createServiceImport(t, ns, "web", mcs.ClusterSetIP, []string{"10.45.0.1"}, mcsPort("http", corev1.ProtocolTCP, 80))
	createSlice(t, mcsSlice(ns, "web-a", "web", "cluster-a", "http", 80, ep{ip: "10.45.3.1", hostname: "web-0"}))
	createServiceImport(t, ns, "multi", mcs.ClusterSetIP, []string{"10.45.0.2", "fd00:45::2"},
		mcsPort("http", corev1.ProtocolTCP, 80), mcsPort("dns", corev1.ProtocolUDP, 53), mcsPort("", corev1.ProtocolTCP, 8080))
	createServiceImport(t, ns, "pending", mcs.ClusterSetIP, nil, mcsPort("http", corev1.ProtocolTCP, 80))
	createServiceImport(t, ns, "noports", mcs.ClusterSetIP, []string{"10.45.0.3"})
	createServiceImport(t, ns, "db", mcs.Headless, nil, mcsPort("pg", corev1.ProtocolTCP, 5432))
	createSlice(t, mcsSlice(ns, "db-a", "db", "cluster-a", "pg", 5432,
		ep{ip: "10.45.1.1", hostname: "db-0"}, ep{ip: "10.45.1.2"}, ep{ip: "10.45.1.3", notReady: true}))
	b := mcsSlice(ns, "db-b", "db", "cluster-b", "pg", 5432, ep{ip: "10.45.2.1", hostname: "db-0"})
	b.Endpoints = append(b.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.45.2.2"}, Hostname: ptr.To("db-1")}) // readiness unknown: ready
	createSlice(t, b)
	createServiceImport(t, ns, "idle", mcs.Headless, nil, mcsPort("pg", corev1.ProtocolTCP, 5432))

	kc := overlayUser(t, "kubesvc-coredns-serviceimports", "deploy/overlays/multicluster/rbac-serviceimports.yaml")
	opts := append([]string{"zones:clusterset.local", "multicluster clusterset.local"}, transferOptions...)
	kubesvc := startCoreDNS(t, "kubesvc", corednsBin, kc, func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubesvc", p, kc, opts...)
	})
	stock := stockCoreDNS(t, "stock", func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubernetes", p, kc, opts...)
	})
	for _, s := range []*coredns.Server{kubesvc, stock} {
		if err := s.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	const (
		mc = "." + ns + ".svc.clusterset.local."
		db = "db" + mc
	)
	bothAnswer(t, kubesvc, stock, "_pg._tcp."+db, dns.TypeSRV, dns.RcodeSuccess, 4)
	bothAnswer(t, kubesvc, stock, "multi"+mc, dns.TypeAAAA, dns.RcodeSuccess, 1)

	var qs []question
	for _, name := range []string{"web", "multi", "pending", "db", "idle", "nope"} {
		qs = append(qs, question{name + mc, dns.TypeA}, question{name + mc, dns.TypeAAAA}, question{name + mc, dns.TypeSRV})
	}
	qs = append(qs,
		question{"web." + ns + ".svc.cluster.local.", dns.TypeA},
		question{"_http._tcp.web" + mc, dns.TypeSRV},
		question{"_dns._udp.multi" + mc, dns.TypeSRV},
		question{"_http._tcp.pending" + mc, dns.TypeSRV},
		question{"_pg._tcp." + db, dns.TypeSRV},
		question{"_pg._tcp.idle" + mc, dns.TypeSRV},
		question{"db-0.cluster-a." + db, dns.TypeA},
		question{"10-45-1-2.cluster-a." + db, dns.TypeA},
		question{"10-45-1-3.cluster-a." + db, dns.TypeA},
		question{"db-0.cluster-b." + db, dns.TypeA},
		question{"db-1.cluster-b." + db, dns.TypeA},
		question{"db-0." + db, dns.TypeA},
		question{"Db-0.Cluster-A.DB." + ns + ".svc.ClusterSet.Local.", dns.TypeA},
		question{"db." + ns + ".svc.cluster.local.", dns.TypeA},
		question{"clusterset.local.", dns.TypeSOA},
		question{ns + ".svc.clusterset.local.", dns.TypeA},
	)
	sameAnswers(t, kubesvc, stock, qs)
	multiclusterSpecAnswers(t, kubesvc, stock, ns)
	multiclusterTransfer(t, kubesvc, stock, ns)

	// Changes are followed: an import and a cluster's slice go.
	deleteServiceImport(t, ns, "web")
	if err := kube.Client.DiscoveryV1().EndpointSlices(ns).Delete(ctxFor(t, 10*time.Second), "db-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	bothAnswer(t, kubesvc, stock, "web"+mc, dns.TypeA, dns.RcodeNameError, 0)
	bothAnswer(t, kubesvc, stock, "_pg._tcp."+db, dns.TypeSRV, dns.RcodeSuccess, 2)
	sameAnswers(t, kubesvc, stock, qs)
}

// multiclusterSpecAnswers checks kubesvc where the multicluster DNS
// specification and stock disagree (logging what stock answers).
func multiclusterSpecAnswers(t *testing.T, kubesvc, stock *coredns.Server, ns string) {
	t.Helper()
	mc := "." + ns + ".svc.clusterset.local."
	for _, c := range []struct {
		name  string
		qtype uint16
		want  want
	}{
		// 2.2: the multicluster schema's version (stock: the cluster one's).
		{"dns-version.clusterset.local.", dns.TypeTXT, want{answer: []string{`dns-version.clusterset.local. 28800 IN TXT "1.0.0"`}}},
		// 2.3.3, 2.4.3: PTR records of clusterset IPs and endpoints.
		{reverse(t, "10.45.0.1"), dns.TypePTR, want{answer: []string{reverse(t, "10.45.0.1") + " 30 IN PTR web" + mc}}},
		{reverse(t, "10.45.1.1"), dns.TypePTR, want{answer: []string{reverse(t, "10.45.1.1") + " 30 IN PTR db-0.cluster-a.db" + mc}}},
		// 2.3.4: no name picks one cluster's backends of a ClusterSetIP import.
		{"web-0.cluster-a.web" + mc, dns.TypeA, want{rcode: dns.RcodeNameError}},
		// RFC 8020: the parent of an endpoint's name exists.
		{"cluster-a.db" + mc, dns.TypeA, want{rcode: dns.RcodeSuccess}},
		// 2.3.1: a ClusterSetIP import's A record, whatever its ports.
		{"noports" + mc, dns.TypeA, want{answer: []string{"noports" + mc + " 30 IN A 10.45.0.3"}}},
	} {
		for _, proto := range protos {
			r := query(t, kubesvc.Ports.DNSAddr(), proto, c.name, c.qtype)
			expect(t, r, c.want)
			if s, err := ask(stock.Ports.DNSAddr(), proto, c.name, c.qtype, true); err != nil {
				t.Logf("stock, %s %s over %s: %v", c.name, dns.TypeToString[c.qtype], proto, err)
			} else {
				t.Logf("stock, %s %s over %s: %s %v", c.name, dns.TypeToString[c.qtype], proto, dns.RcodeToString[s.Rcode], s.Answer)
			}
		}
	}
}

// multiclusterTransfer: kubesvc's AXFR of the multicluster zone holds what
// its queries answer (stock's names headless imports' endpoints without
// their cluster, names its queries do not answer, and weighs otherwise).
func multiclusterTransfer(t *testing.T, kubesvc, stock *coredns.Server, ns string) {
	t.Helper()
	_, got := framed(t, "kubesvc", zoneTransfer(t, kubesvc.Ports.DNSAddr(), "clusterset.local.", 0))
	mine := under(ns+".svc.clusterset.local.", got)
	if !slices.Contains(mine, "db-0.cluster-a.db."+ns+".svc.clusterset.local.\t0\tIN\tA\t10.45.1.1") {
		t.Errorf("kubesvc's transfer lacks the endpoint's name: %q", mine)
	}
	for _, rr := range got {
		if !dns.IsSubDomain(ns+".svc.clusterset.local.", rr.Header().Name) {
			continue
		}
		r := query(t, kubesvc.Ports.DNSAddr(), "tcp", rr.Header().Name, rr.Header().Rrtype)
		if !slices.Contains(normalised(r.Answer), normalised([]dns.RR{rr})[0]) {
			t.Errorf("kubesvc transfers %v, which its query answers with %v", rr, r.Answer)
		}
	}
	_, theirs := framed(t, "stock", zoneTransfer(t, stock.Ports.DNSAddr(), "clusterset.local.", 0))
	t.Logf("stock's transfer of the imports: %q", under(ns+".svc.clusterset.local.", theirs))
}
