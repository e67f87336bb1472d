package kubesvc

import (
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// A headless service whose slices differ in ports (one has none, as a
// slice of Pods without the service's named target port) is answered:
// counting a chunk whose portless member comes before one with ports must
// not index the empty port list.
func TestHeadlessPortlessMemberBeforeOneWithPorts(t *testing.T) {
	w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 30}, false)
	w.ix.publish()
	s, _ := toService(headlessSvc("ns", "hs", svcPort("web", corev1.ProtocolTCP, 80)))
	w.setService(s.(*service).stateKey(), s.(*service))
	a, _ := toEndpointSlice(slice("ns", "hs-a", "hs", discovery.AddressTypeIPv4, nil, ep("10.0.0.1", "a", true)))
	w.setSlice("ns/hs", "hs-a", a.(*endpointSlice))
	b, _ := toEndpointSlice(slice("ns", "hs-b", "hs", discovery.AddressTypeIPv4,
		[]discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}, ep("10.0.0.2", "b", true)))
	w.setSlice("ns/hs", "hs-b", b.(*endpointSlice))
	w.mu.Lock()
	got := w.ix.serviceNamed("hs.ns").hs
	w.mu.Unlock()
	if got == nil || got.addrs != 2 {
		t.Fatalf("record %s, want the 2 addresses", describe(got))
	}
}

// At a headless service's own name, an endpoint of a portless slice weighs
// in the SRV records as stock weighs it (its port -1): 4 endpoints, 25 each.
func TestHeadlessServiceSRVWeighsPortlessEndpointsAsStock(t *testing.T) {
	portless := slice("ns", "hs-a", "hs", discovery.AddressTypeIPv4, nil, ep("10.0.0.1", "a", true), ep("10.0.0.3", "", true))
	ported := slice("ns", "hs-b", "hs", discovery.AddressTypeIPv4,
		[]discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}, ep("10.0.0.2", "b", true), ep("10.0.0.4", "", true))
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local", headlessSvc("ns", "hs", svcPort("web", corev1.ProtocolTCP, 80)), portless, ported)
	_, m := ask(k, test.Case{Qname: "hs.ns.svc.cluster.local.", Qtype: dns.TypeSRV})
	if m == nil || len(m.Answer) != 2 {
		t.Fatalf("want the 2 SRV records of the ported slice's endpoints, got %v", m)
	}
	for _, rr := range m.Answer {
		if srv, ok := rr.(*dns.SRV); !ok || srv.Weight != 25 {
			t.Errorf("%v: want weight 25, as stock counts the 4 endpoints", rr)
		}
	}
}

// A hostname two slices with other ports give (web-0 at 10.0.0.1 serving
// dns/53 UDP, at 10.0.0.2 serving http/80, at 10.0.0.3 without ports): the
// additional records of an SRV answer are the addresses of the endpoints
// behind its records, as stock's are, not every address of the target's
// name: a client would reach 10.0.0.2 on port 53 for nothing.
func TestHeadlessSRVAdditionalOnlyAddressesServingThePort(t *testing.T) {
	dnsPort := slice("ns", "hs-a", "hs", discovery.AddressTypeIPv4,
		[]discovery.EndpointPort{slicePort("dns", corev1.ProtocolUDP, 53)}, ep("10.0.0.1", "web-0", true))
	httpPort := slice("ns", "hs-b", "hs", discovery.AddressTypeIPv4,
		[]discovery.EndpointPort{slicePort("http", corev1.ProtocolTCP, 80)}, ep("10.0.0.2", "web-0", true))
	portless := slice("ns", "hs-c", "hs", discovery.AddressTypeIPv4, nil, ep("10.0.0.3", "web-0", true))
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local", headlessSvc("ns", "hs", svcPort("dns", corev1.ProtocolUDP, 53)), dnsPort, httpPort, portless)
	const hs, web0 = "hs.ns.svc.cluster.local.", "web-0.hs.ns.svc.cluster.local."
	runCases(t, k, []test.Case{
		{Qname: "_dns._udp." + hs, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_dns._udp." + hs + " 5 IN SRV 0 100 53 " + web0)},
			Extra:  []dns.RR{test.A(web0 + " 5 IN A 10.0.0.1")}},
		{Qname: "_http._tcp." + hs, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_http._tcp." + hs + " 5 IN SRV 0 100 80 " + web0)},
			Extra:  []dns.RR{test.A(web0 + " 5 IN A 10.0.0.2")}},
		// Stock's weights: the three endpoints, the portless one's port -1 too.
		{Qname: hs, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV(hs + " 5 IN SRV 0 33 53 " + web0), test.SRV(hs + " 5 IN SRV 0 33 80 " + web0)},
			Extra:  []dns.RR{test.A(web0 + " 5 IN A 10.0.0.1"), test.A(web0 + " 5 IN A 10.0.0.2")}},
	})
}

// A slice port with a name and no number ("all ports"): no SRV record can
// give it, but its SRV name exists (NODATA, not NXDOMAIN, and its _<proto>
// parent too), and at the service's own name and at an SRV name it shares
// with a numbered port its endpoints weigh in the records, as stock's port
// -1 does: here 10.0.0.1 and 10.0.0.3 serve "any" without a number and
// 10.0.0.2 "any" on 80, so each name has one record of weight 33; b's
// address without the number is no additional record of it.
func TestHeadlessNamedPortWithoutNumberExistsWithoutRecords(t *testing.T) {
	anyPort := discovery.EndpointPort{Name: ptr.To("any"), Protocol: ptr.To(corev1.ProtocolTCP)}
	numberless := slice("ns", "hs-a", "hs", discovery.AddressTypeIPv4, []discovery.EndpointPort{anyPort}, ep("10.0.0.1", "a", true), ep("10.0.0.3", "b", true))
	udp := discovery.EndpointPort{Name: ptr.To("cast"), Protocol: ptr.To(corev1.ProtocolUDP)}
	onlyNumberless := slice("ns", "solo-a", "solo", discovery.AddressTypeIPv4, []discovery.EndpointPort{udp}, ep("10.0.1.1", "s", true))
	numberedAny := slice("ns", "hs-b", "hs", discovery.AddressTypeIPv4,
		[]discovery.EndpointPort{slicePort("any", corev1.ProtocolTCP, 80)}, ep("10.0.0.2", "b", true))
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local", headlessSvc("ns", "hs"), headlessSvc("ns", "solo"), numberless, numberedAny, onlyNumberless)
	const hs, solo = "hs.ns.svc.cluster.local.", "solo.ns.svc.cluster.local."
	nodata := []dns.RR{soaFor(k)}
	runCases(t, k, []test.Case{
		{Qname: "_cast._udp." + solo, Qtype: dns.TypeSRV, Ns: nodata},
		{Qname: "_cast._udp." + solo, Qtype: dns.TypeA, Ns: nodata},
		{Qname: "_udp." + solo, Qtype: dns.TypeSRV, Ns: nodata},
		{Qname: solo, Qtype: dns.TypeSRV, Ns: nodata},
		{Qname: "_other._udp." + solo, Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: nodata},
		{Qname: "_cast._tcp." + solo, Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: nodata},
		{Qname: "_any._tcp." + hs, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_any._tcp." + hs + " 5 IN SRV 0 33 80 b." + hs)},
			Extra:  []dns.RR{test.A("b." + hs + " 5 IN A 10.0.0.2")}},
		{Qname: hs, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV(hs + " 5 IN SRV 0 33 80 b." + hs)},
			Extra:  []dns.RR{test.A("b." + hs + " 5 IN A 10.0.0.2")}},
	})
}
