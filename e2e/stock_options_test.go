package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// The stock kubernetes plugin's options, each asked of kubesvc and of stock
// CoreDNS 1.15 with the same Corefile on the same objects.

// bothAnswer waits until kubesvc and stock both answer name/qtype with
// rcode (-1: any) and n answer records: both have seen the latest change.
func bothAnswer(t *testing.T, kubesvc, stock *coredns.Server, name string, qtype uint16, rcode, n int) {
	t.Helper()
	for i, s := range []*coredns.Server{kubesvc, stock} {
		eventually(t, 30*time.Second, fmt.Sprintf("%s answers %s %s with %d records", []string{"kubesvc", "stock"}[i], name, dns.TypeToString[qtype], n),
			func() (bool, string) {
				r, err := ask(s.Ports.DNSAddr(), "udp", name, qtype, true)
				if err != nil {
					return false, err.Error()
				}
				return (rcode < 0 || r.Rcode == rcode) && len(r.Answer) == n, r.String()
			})
	}
}

func sameAnswers(t *testing.T, kubesvc, stock *coredns.Server, qs []question) {
	t.Helper()
	for _, q := range qs {
		sameAsStock(t, kubesvc, stock, q.name, q.qtype)
	}
}

// podEndpoint is an endpoint whose targetRef names a Pod, as the
// EndpointSlice controller writes it; the Pod itself need not exist.
func podEndpoint(ip, hostname, pod string) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: pod},
	}
	if hostname != "" {
		e.Hostname = ptr.To(hostname)
	}
	return e
}

// endpoint_pod_names: an endpoint without a hostname is named after its Pod
// in A records, SRV targets and PTR records, as stock names it.
func TestDifferentialEndpointPodNames(t *testing.T) {
	suite(t)
	const ns = "e2e-podnames"
	namespace(t, ns)
	createService(t, headlessService(ns, "web", "http", 80))
	sl := slice(ns, "web-a", "web", "http", 80)
	sl.Endpoints = []discoveryv1.Endpoint{
		podEndpoint("10.41.0.1", "", "web-5d8f7-x1abc"),
		podEndpoint("10.41.0.2", "web-1", "web-1"),                                                          // the hostname wins
		{Addresses: []string{"10.41.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}, // no targetRef
	}
	createSlice(t, sl)
	kubesvc, stock := differentialPair(t, "endpoint_pod_names")
	const base = "web." + ns + ".svc.cluster.local."
	bothAnswer(t, kubesvc, stock, "_http._tcp."+base, dns.TypeSRV, dns.RcodeSuccess, 3)

	sameAnswers(t, kubesvc, stock, []question{
		{base, dns.TypeA},
		{"web-5d8f7-x1abc." + base, dns.TypeA},
		{"Web-5D8F7-X1abc." + base, dns.TypeA},
		{"10-41-0-1." + base, dns.TypeA}, // NXDOMAIN: the pod's name replaces it
		{"web-1." + base, dns.TypeA},
		{"10-41-0-3." + base, dns.TypeA},
		{"_http._tcp." + base, dns.TypeSRV},
		{base, dns.TypeSRV},
		{reverse(t, "10.41.0.1"), dns.TypePTR},
		{reverse(t, "10.41.0.2"), dns.TypePTR},
		{reverse(t, "10.41.0.3"), dns.TypePTR},
	})
	for _, proto := range protos {
		expect(t, query(t, kubesvc.Ports.DNSAddr(), proto, reverse(t, "10.41.0.1"), dns.TypePTR), want{
			answer: []string{reverse(t, "10.41.0.1") + " 30 IN PTR web-5d8f7-x1abc." + base}})
	}
}

// A Pod name that is not a DNS label (a Pod's name is a DNS subdomain, so
// it may hold dots) cannot name an endpoint: kubesvc keeps the dashed
// address. Stock names it with the dotted name, several labels deep.
func TestEndpointPodNameNotALabelKeepsDashedName(t *testing.T) {
	suite(t)
	const ns = "e2e-podnames-dots"
	namespace(t, ns)
	createService(t, headlessService(ns, "web", "http", 80))
	sl := slice(ns, "web-a", "web", "http", 80)
	sl.Endpoints = []discoveryv1.Endpoint{podEndpoint("10.41.1.1", "", "web.v2.x")}
	createSlice(t, sl)
	kubesvc, stock := differentialPair(t, "endpoint_pod_names")
	const base = "web." + ns + ".svc.cluster.local."
	bothAnswer(t, kubesvc, stock, "_http._tcp."+base, dns.TypeSRV, dns.RcodeSuccess, 1)
	for _, proto := range protos {
		expect(t, query(t, kubesvc.Ports.DNSAddr(), proto, "_http._tcp."+base, dns.TypeSRV), want{
			answer: []string{"_http._tcp." + base + " 30 IN SRV 0 100 80 10-41-1-1." + base}})
		expect(t, query(t, kubesvc.Ports.DNSAddr(), proto, "10-41-1-1."+base, dns.TypeA), want{
			answer: []string{"10-41-1-1." + base + " 30 IN A 10.41.1.1"}})
		r := query(t, stock.Ports.DNSAddr(), proto, "_http._tcp."+base, dns.TypeSRV)
		a := query(t, stock.Ports.DNSAddr(), proto, "web.v2.x."+base, dns.TypeA)
		t.Logf("stock over %s: %v; its target: %s %v", proto, r.Answer, dns.RcodeToString[a.Rcode], a.Answer)
	}
}

// ignore empty_service: a ClusterIP service without a ready endpoint is
// NXDOMAIN, passed on by fallthrough, as stock does; a change of readiness
// is followed.
func TestDifferentialIgnoreEmptyService(t *testing.T) {
	suite(t)
	const ns = "e2e-ignore-empty"
	namespace(t, ns)
	svcNone := createService(t, clusterIPService(ns, "none", "http", 80))
	createService(t, clusterIPService(ns, "idle", "http", 80))
	createSlice(t, slice(ns, "idle-a", "idle", "http", 80, ep{ip: "10.42.0.1", notReady: true}))
	createService(t, clusterIPService(ns, "busy", "http", 80))
	createSlice(t, slice(ns, "busy-a", "busy", "http", 80, ep{ip: "10.42.0.2"}, ep{ip: "10.42.0.3", notReady: true}))
	// As the EndpointSlice controller labels them: kubesvc keeps such a
	// slice without its endpoints, a summary of their readiness only.
	idleCtl := slice(ns, "idlectl-a", "idlectl", "http", 80, ep{ip: "10.42.0.4", notReady: true})
	idleCtl.Labels[discoveryv1.LabelManagedBy] = "endpointslice-controller.k8s.io"
	createService(t, clusterIPService(ns, "idlectl", "http", 80))
	idleCtl = createSlice(t, idleCtl)
	createService(t, headlessService(ns, "hl", "http", 80))
	createSlice(t, slice(ns, "hl-a", "hl", "http", 80, ep{ip: "10.42.0.5", notReady: true}))
	createService(t, externalNameService(ns, "ext", "example.com"))
	kubesvc, stock := differentialPair(t, "ignore empty_service", "fallthrough")
	const svc = "." + ns + ".svc.cluster.local."
	bothAnswer(t, kubesvc, stock, "busy"+svc, dns.TypeA, dns.RcodeSuccess, 1)

	var qs []question
	for _, name := range []string{"none", "idle", "busy", "idlectl", "hl"} {
		qs = append(qs, question{name + svc, dns.TypeA}, question{name + svc, dns.TypeAAAA},
			question{"_http._tcp." + name + svc, dns.TypeSRV}, question{name + svc, dns.TypeSRV})
	}
	qs = append(qs, question{"ext" + svc, dns.TypeCNAME}, question{reverse(t, svcNone.Spec.ClusterIP), dns.TypePTR})
	sameAnswers(t, kubesvc, stock, qs)

	// The controller-labelled slice's endpoint becomes ready, the busy
	// service's ready one goes.
	idleCtl.Endpoints[0].Conditions.Ready = ptr.To(true)
	if _, err := kube.Client.DiscoveryV1().EndpointSlices(ns).Update(ctxFor(t, 10*time.Second), idleCtl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	busy := slice(ns, "busy-a", "busy", "http", 80, ep{ip: "10.42.0.3", notReady: true})
	busy.ResourceVersion = getSliceVersion(t, ns, "busy-a")
	if _, err := kube.Client.DiscoveryV1().EndpointSlices(ns).Update(ctxFor(t, 10*time.Second), busy, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	bothAnswer(t, kubesvc, stock, "idlectl"+svc, dns.TypeA, dns.RcodeSuccess, 1)
	bothAnswer(t, kubesvc, stock, "busy"+svc, dns.TypeA, -1, 0) // passed on: the upstream's answer
	sameAnswers(t, kubesvc, stock, qs)
}

func getSliceVersion(t *testing.T, ns, name string) string {
	t.Helper()
	sl, err := kube.Client.DiscoveryV1().EndpointSlices(ns).Get(ctxFor(t, 10*time.Second), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sl.ResourceVersion
}

// SRV at a service's own name, which the specification leaves undefined
// and stock answers: one record per port number (named or not) for a
// ClusterIP service, one per endpoint and port for a headless one.
func TestDifferentialSRVAtServiceName(t *testing.T) {
	suite(t)
	const ns = "e2e-srv-name"
	namespace(t, ns)
	multi := clusterIPService(ns, "multi", "http", 80)
	multi.Spec.Ports = append(multi.Spec.Ports,
		corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
		corev1.ServicePort{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)})
	createService(t, multi)
	createService(t, clusterIPService(ns, "unnamed", "", 8080))
	hl := headlessService(ns, "hl", "http", 80)
	hl.Spec.Ports = append(hl.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9090)})
	createService(t, hl)
	sl := slice(ns, "hl-a", "hl", "http", 80,
		ep{ip: "10.43.0.1", hostname: "web-0"}, ep{ip: "10.43.0.2"}, ep{ip: "10.43.0.3", notReady: true})
	sl.Ports = append(sl.Ports, discoveryv1.EndpointPort{Name: ptr.To("metrics"), Port: ptr.To(int32(9090)), Protocol: ptr.To(corev1.ProtocolTCP)})
	createSlice(t, sl)
	createService(t, headlessService(ns, "hl-unnamed", "", 8080))
	createSlice(t, slice(ns, "hl-unnamed-a", "hl-unnamed", "", 8080, ep{ip: "10.43.1.1"}))
	createService(t, headlessService(ns, "hl-idle", "http", 80))
	createService(t, externalNameService(ns, "ext", "blog.mosuke.tech"))
	kubesvc, stock := differentialPair(t)
	const svc = "." + ns + ".svc.cluster.local."
	bothAnswer(t, kubesvc, stock, "_http._tcp.hl"+svc, dns.TypeSRV, dns.RcodeSuccess, 2)

	sameAnswers(t, kubesvc, stock, []question{
		{"multi" + svc, dns.TypeSRV},
		{"Multi.E2E-Srv-Name.Svc.Cluster.Local.", dns.TypeSRV},
		{"unnamed" + svc, dns.TypeSRV},
		{"hl" + svc, dns.TypeSRV},
		{"HL.e2e-srv-name.SVC.cluster.local.", dns.TypeSRV},
		{"hl-unnamed" + svc, dns.TypeSRV},
		{"hl-idle" + svc, dns.TypeSRV},
		{"_http._tcp.multi" + svc, dns.TypeSRV},
		{"_dns._udp.multi" + svc, dns.TypeSRV},
		{"_metrics._tcp.hl" + svc, dns.TypeSRV},
		{"multi" + svc, dns.TypeA},
	})

	// An ExternalName service's name holds a CNAME (the specification's
	// record for it), which answers every type (RFC 1034 3.6.2): kubesvc
	// answers SRV with it. Stock answers NODATA, as if the name held other
	// data but no SRV, which a CNAME's owner cannot.
	for _, proto := range protos {
		expect(t, query(t, kubesvc.Ports.DNSAddr(), proto, "ext"+svc, dns.TypeSRV), want{
			answer: []string{"ext" + svc + " 30 IN CNAME blog.mosuke.tech."}})
		r := query(t, stock.Ports.DNSAddr(), proto, "ext"+svc, dns.TypeSRV)
		t.Logf("stock, SRV at an ExternalName service over %s: %s %v", proto, dns.RcodeToString[r.Rcode], r.Answer)
	}
}
