package kubesvc

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// podEp is an endpoint whose targetRef names an object of kind (a Pod,
// mostly), as the EndpointSlice controller writes them.
func podEp(addr, hostname, kind, name string) discovery.Endpoint {
	e := ep(addr, hostname, true)
	e.TargetRef = &corev1.ObjectReference{Kind: kind, Name: name, Namespace: "default"}
	return e
}

func podNamesSeed() []runtime.Object {
	web := []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}
	return []runtime.Object{
		headlessSvc("default", "pods", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("default", "pods-a", "pods", discovery.AddressTypeIPv4, web,
			podEp("10.0.5.1", "", "Pod", "web-7d9f-abcde"),
			podEp("10.0.5.2", "web-1", "Pod", "web-1"),    // a hostname wins
			podEp("10.0.5.3", "", "Pod", "pod.with.dots"), // no label: dashed
			podEp("10.0.5.4", "", "Node", "node-1"),       // not a Pod: dashed
			ep("10.0.5.5", "", true)),                     // no targetRef: dashed
		slice("default", "pods-v6", "pods", discovery.AddressTypeIPv6, web,
			podEp("fd00::5:1", "", "Pod", "web-7d9f-abcde")), // the same pod, dual-stack
	}
}

// endpoint_pod_names names an endpoint without a hostname after its Pod,
// in its A/AAAA, SRV targets and PTR; other endpoints keep their names.
func TestEndpointPodNames(t *testing.T) {
	const base = "pods.default.svc.cluster.local."
	const pod = "web-7d9f-abcde." + base
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local in-addr.arpa ip6.arpa {\nendpoint_pod_names\nttl 30\n}", podNamesSeed()...)
	zsoa := []dns.RR{soa("cluster.local.")}
	runCases(t, k, []test.Case{
		{Qname: pod, Qtype: dns.TypeA, Answer: []dns.RR{test.A(pod + " 30 IN A 10.0.5.1")}},
		{Qname: pod, Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA(pod + " 30 IN AAAA fd00::5:1")}},
		{Qname: "10-0-5-1." + base, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "web-1." + base, Qtype: dns.TypeA, Answer: []dns.RR{test.A("web-1." + base + " 30 IN A 10.0.5.2")}},
		{Qname: "10-0-5-3." + base, Qtype: dns.TypeA, Answer: []dns.RR{test.A("10-0-5-3." + base + " 30 IN A 10.0.5.3")}},
		{Qname: "10-0-5-4." + base, Qtype: dns.TypeA, Answer: []dns.RR{test.A("10-0-5-4." + base + " 30 IN A 10.0.5.4")}},
		{Qname: "node-1." + base, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "10-0-5-5." + base, Qtype: dns.TypeA, Answer: []dns.RR{test.A("10-0-5-5." + base + " 30 IN A 10.0.5.5")}},
		{Qname: "1.5.0.10.in-addr.arpa.", Qtype: dns.TypePTR, Answer: []dns.RR{test.PTR("1.5.0.10.in-addr.arpa. 30 IN PTR " + pod)}},
		{Qname: "_web._tcp." + base, Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV("_web._tcp." + base + " 30 IN SRV 0 16 80 10-0-5-3." + base),
				test.SRV("_web._tcp." + base + " 30 IN SRV 0 16 80 10-0-5-4." + base),
				test.SRV("_web._tcp." + base + " 30 IN SRV 0 16 80 10-0-5-5." + base),
				test.SRV("_web._tcp." + base + " 30 IN SRV 0 16 80 web-1." + base),
				test.SRV("_web._tcp." + base + " 30 IN SRV 0 16 80 " + pod)},
			Extra: []dns.RR{
				test.A("10-0-5-3." + base + " 30 IN A 10.0.5.3"),
				test.A("10-0-5-4." + base + " 30 IN A 10.0.5.4"),
				test.A("10-0-5-5." + base + " 30 IN A 10.0.5.5"),
				test.A("web-1." + base + " 30 IN A 10.0.5.2"),
				test.A(pod + " 30 IN A 10.0.5.1"),
				test.AAAA(pod + " 30 IN AAAA fd00::5:1")}},
	})

	// Without the option the same endpoint goes by its dashed address.
	k, _ = newTestKubeSvc(t, "kubesvc cluster.local in-addr.arpa {\nttl 30\n}", podNamesSeed()...)
	runCases(t, k, []test.Case{
		{Qname: pod, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "10-0-5-1." + base, Qtype: dns.TypeA, Answer: []dns.RR{test.A("10-0-5-1." + base + " 30 IN A 10.0.5.1")}},
		{Qname: "1.5.0.10.in-addr.arpa.", Qtype: dns.TypePTR,
			Answer: []dns.RR{test.PTR("1.5.0.10.in-addr.arpa. 30 IN PTR 10-0-5-1." + base)}},
	})
}

// controllerSlice is a slice as the EndpointSlice controller writes it for
// a service with a cluster IP: stored compact.
func controllerSlice(ns, name, svc string, eps ...discovery.Endpoint) *discovery.EndpointSlice {
	sl := slice(ns, name, svc, discovery.AddressTypeIPv4, []discovery.EndpointPort{slicePort("http", corev1.ProtocolTCP, 8080)}, eps...)
	sl.Labels[discovery.LabelManagedBy] = endpointSliceController
	return sl
}

// ignore empty_service: a ClusterIP service without a ready endpoint is
// NXDOMAIN (so fallthrough passes it on), its cluster IP's PTR stays; the
// answers follow its slices' readiness as it changes.
func TestIgnoreEmptyService(t *testing.T) {
	pnr := clusterIPSvc("default", "pnr", []string{"10.96.7.4"}, svcPort("http", corev1.ProtocolTCP, 80))
	pnr.Spec.PublishNotReadyAddresses = true
	k, client := newTestKubeSvc(t, "kubesvc cluster.local in-addr.arpa {\nignore empty_service\nfallthrough\nttl 30\n}",
		clusterIPSvc("default", "none", []string{"10.96.7.1"}, svcPort("http", corev1.ProtocolTCP, 80)),
		clusterIPSvc("default", "idle", []string{"10.96.7.2"}, svcPort("http", corev1.ProtocolTCP, 80)),
		controllerSlice("default", "idle-x", "idle", ep("10.0.7.1", "", false)),
		clusterIPSvc("default", "busy", []string{"10.96.7.3"}, svcPort("http", corev1.ProtocolTCP, 80)),
		controllerSlice("default", "busy-x", "busy", ep("10.0.7.2", "", false)),
		controllerSlice("default", "busy-y", "busy", ep("10.0.7.3", "", true)),
		pnr,
		controllerSlice("default", "pnr-x", "pnr", ep("10.0.7.4", "", false)),
		headlessSvc("default", "hl", svcPort("http", corev1.ProtocolTCP, 80)),
		slice("default", "hl-x", "hl", discovery.AddressTypeIPv4, nil, ep("10.0.7.5", "", true)),
		externalSvc("default", "ext", "example.com"),
	)
	rcodeOf := func(name string, qtype uint16) int {
		rcode, m := ask(k, test.Case{Qname: name, Qtype: qtype})
		if m != nil {
			return m.Rcode
		}
		return rcode // REFUSED: passed on by fallthrough
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  int
	}{
		{"none.default.svc.cluster.local.", dns.TypeA, dns.RcodeRefused},
		{"_http._tcp.none.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeRefused},
		{"idle.default.svc.cluster.local.", dns.TypeA, dns.RcodeRefused},
		{"busy.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess},
		{"_http._tcp.busy.default.svc.cluster.local.", dns.TypeSRV, dns.RcodeSuccess},
		{"pnr.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess},
		{"hl.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess},
		{"ext.default.svc.cluster.local.", dns.TypeCNAME, dns.RcodeSuccess},
		{"1.7.96.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess},
		{"2.7.96.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess},
	} {
		if got := rcodeOf(tc.name, tc.qtype); got != tc.want {
			t.Errorf("%s %s: rcode %s, want %s", tc.name, dns.TypeToString[tc.qtype], dns.RcodeToString[got], dns.RcodeToString[tc.want])
		}
	}

	// The idle service's endpoint becomes ready, the busy one's goes.
	ctx := context.Background()
	slices := client.DiscoveryV1().EndpointSlices("default")
	idle := controllerSlice("default", "idle-x", "idle", ep("10.0.7.1", "", true))
	idle.ResourceVersion = "2" // the fake clientset keeps the version it is given
	if _, err := slices.Update(ctx, idle, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := slices.Delete(ctx, "busy-y", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "idle answered, busy NXDOMAIN", func() bool {
		return rcodeOf("idle.default.svc.cluster.local.", dns.TypeA) == dns.RcodeSuccess &&
			rcodeOf("busy.default.svc.cluster.local.", dns.TypeA) == dns.RcodeRefused
	})
	_, m := ask(k, test.Case{Qname: "idle.default.svc.cluster.local.", Qtype: dns.TypeA})
	if err := test.SortAndCheck(m, test.Case{Qname: "idle.default.svc.cluster.local.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("idle.default.svc.cluster.local. 30 IN A 10.96.7.2")}}); err != nil {
		t.Errorf("idle after its endpoint became ready: %v\n%v", err, m)
	}
}

// Without the option a ClusterIP service is answered whatever its slices.
func TestEmptyServiceAnsweredByDefault(t *testing.T) {
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local",
		clusterIPSvc("default", "none", []string{"10.96.7.1"}, svcPort("http", corev1.ProtocolTCP, 80)),
		clusterIPSvc("default", "idle", []string{"10.96.7.2"}, svcPort("http", corev1.ProtocolTCP, 80)),
		controllerSlice("default", "idle-x", "idle", ep("10.0.7.1", "", false)))
	for _, name := range []string{"none.default.svc.cluster.local.", "idle.default.svc.cluster.local."} {
		if _, m := ask(k, test.Case{Qname: name, Qtype: dns.TypeA}); m == nil || len(m.Answer) != 1 {
			t.Errorf("%s: want its cluster IP, got %v", name, m)
		}
	}
}

// SRV at a service's own name, which stock answers beyond the spec: one
// per port number, named or not, weighing 100 divided by the ports times
// the cluster IPs (or the endpoint addresses, headless).
func TestSRVAtServiceName(t *testing.T) {
	web := []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80), slicePort("", corev1.ProtocolTCP, 81)}
	k, _ := newTestKubeSvc(t, clusterCorefile,
		clusterIPSvc("default", "two", []string{"10.96.8.1"}, svcPort("http", corev1.ProtocolTCP, 8080), svcPort("dns", corev1.ProtocolUDP, 53), svcPort("dns-tcp", corev1.ProtocolTCP, 53)),
		clusterIPSvc("default", "unnamed", []string{"10.96.8.2", "fd00::8:2"}, svcPort("", corev1.ProtocolTCP, 9090)),
		headlessSvc("default", "hl", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("default", "hl-x", "hl", discovery.AddressTypeIPv4, web, ep("10.0.8.1", "web-0", true), ep("10.0.8.2", "", true)),
	)
	const two, unnamed, hl = "two.default.svc.cluster.local.", "unnamed.default.svc.cluster.local.", "hl.default.svc.cluster.local."
	runCases(t, k, []test.Case{
		{Qname: two, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV(two + " 30 IN SRV 0 33 53 " + two), test.SRV(two + " 30 IN SRV 0 33 8080 " + two)},
			Extra:  []dns.RR{test.A(two + " 30 IN A 10.96.8.1")}},
		{Qname: two, Qtype: dns.TypeA, Answer: []dns.RR{test.A(two + " 30 IN A 10.96.8.1")}},
		// In mixed case the owner is the name as asked, the target and the
		// additional record's owner are derived: the zone as asked.
		{Qname: "Two.Default.svc.Cluster.Local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV("Two.Default.svc.Cluster.Local. 30 IN SRV 0 33 53 two.default.svc.Cluster.Local."),
				test.SRV("Two.Default.svc.Cluster.Local. 30 IN SRV 0 33 8080 two.default.svc.Cluster.Local.")},
			Extra: []dns.RR{test.A("two.default.svc.Cluster.Local. 30 IN A 10.96.8.1")}},
		{Qname: "_http._tcp." + two, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_http._tcp." + two + " 30 IN SRV 0 100 8080 " + two)},
			Extra:  []dns.RR{test.A(two + " 30 IN A 10.96.8.1")}},
		{Qname: unnamed, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV(unnamed + " 30 IN SRV 0 50 9090 " + unnamed)},
			Extra:  []dns.RR{test.A(unnamed + " 30 IN A 10.96.8.2"), test.AAAA(unnamed + " 30 IN AAAA fd00::8:2")}},
		{Qname: hl, Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV(hl + " 30 IN SRV 0 25 80 10-0-8-2." + hl), test.SRV(hl + " 30 IN SRV 0 25 80 web-0." + hl),
				test.SRV(hl + " 30 IN SRV 0 25 81 10-0-8-2." + hl), test.SRV(hl + " 30 IN SRV 0 25 81 web-0." + hl)},
			Extra: []dns.RR{test.A("10-0-8-2." + hl + " 30 IN A 10.0.8.2"), test.A("web-0." + hl + " 30 IN A 10.0.8.1")}},
		{Qname: "_web._tcp." + hl, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_web._tcp." + hl + " 30 IN SRV 0 50 80 10-0-8-2." + hl), test.SRV("_web._tcp." + hl + " 30 IN SRV 0 50 80 web-0." + hl)},
			Extra:  []dns.RR{test.A("10-0-8-2." + hl + " 30 IN A 10.0.8.2"), test.A("web-0." + hl + " 30 IN A 10.0.8.1")}},
	})
}
