package kubesvc

import (
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// A headless service's names are found whether the label is an address
// dashed (looked up by the address it reads as) or a hostname, also when a
// hostname reads as another endpoint's address: both then answer at the
// one name, and its SRV target is listed once per port.
func TestHeadlessLabelsFoundByKind(t *testing.T) {
	web := []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}
	const base = "hs.ns.svc.cluster.local."
	k, _ := newTestKubeSvc(t, clusterCorefile,
		headlessSvc("ns", "hs", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("ns", "hs-4", "hs", discovery.AddressTypeIPv4, web,
			ep("10.0.9.1", "", true), ep("10.0.9.2", "web-0", true), ep("10.0.9.3", "", true)),
		slice("ns", "hs-6", "hs", discovery.AddressTypeIPv6, web, ep("fd00::9", "", true)),
		headlessSvc("ns", "twin", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("ns", "twin-4", "twin", discovery.AddressTypeIPv4, web,
			ep("10.0.9.5", "10-0-9-6", true), ep("10.0.9.6", "", true)),
	)
	runCases(t, k, []test.Case{
		{Qname: "10-0-9-1." + base, Qtype: dns.TypeA, Answer: []dns.RR{test.A("10-0-9-1." + base + " 30 IN A 10.0.9.1")}},
		{Qname: "10-0-9-3." + base, Qtype: dns.TypeA, Answer: []dns.RR{test.A("10-0-9-3." + base + " 30 IN A 10.0.9.3")}},
		{Qname: "10-0-9-2." + base, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soaFor(k)}},
		{Qname: "10-0-9-4." + base, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soaFor(k)}},
		{Qname: "010-0-9-1." + base, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soaFor(k)}},
		{Qname: "web-0." + base, Qtype: dns.TypeA, Answer: []dns.RR{test.A("web-0." + base + " 30 IN A 10.0.9.2")}},
		{Qname: "fd00--9." + base, Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("fd00--9." + base + " 30 IN AAAA fd00::9")}},
		{Qname: "fd00--9." + base, Qtype: dns.TypeA, Ns: []dns.RR{soaFor(k)}},
		{Qname: "10-0-9-6.twin.ns.svc.cluster.local.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("10-0-9-6.twin.ns.svc.cluster.local. 30 IN A 10.0.9.5"),
			test.A("10-0-9-6.twin.ns.svc.cluster.local. 30 IN A 10.0.9.6"),
		}},
		// Each address counts in the weight, as stock weighs it: two here.
		{Qname: "_web._tcp.twin.ns.svc.cluster.local.", Qtype: dns.TypeSRV, Answer: []dns.RR{
			test.SRV("_web._tcp.twin.ns.svc.cluster.local. 30 IN SRV 0 50 80 10-0-9-6.twin.ns.svc.cluster.local."),
		}, Extra: []dns.RR{
			test.A("10-0-9-6.twin.ns.svc.cluster.local. 30 IN A 10.0.9.5"),
			test.A("10-0-9-6.twin.ns.svc.cluster.local. 30 IN A 10.0.9.6"),
		}},
	})
}

// soaFor is the SOA record k's denials in cluster.local carry.
func soaFor(k *KubeSvc) dns.RR { return k.soa(0)[0] }
