package kubesvc

import (
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// A port of a protocol other than TCP, UDP and SCTP (stored as an interned
// id, not a string) still owns _<port>._<proto> SRV names, of a ClusterIP
// and of a headless service, next to the usual ones.
func TestUnusualProtocolOwnsSRVNames(t *testing.T) {
	quic := corev1.Protocol("QUIC")
	k, _ := newTestKubeSvc(t, clusterCorefile,
		clusterIPSvc("proto", "web", []string{"10.96.7.1"}, svcPort("h3", quic, 443), svcPort("h2", corev1.ProtocolTCP, 443)),
		headlessSvc("proto", "hl", svcPort("h3", quic, 8443)),
		slice("proto", "hl-a", "hl", discovery.AddressTypeIPv4, []discovery.EndpointPort{slicePort("h3", quic, 8443)},
			ep("10.0.7.1", "", true)),
	)
	for _, tc := range []struct {
		qname string
		rcode int
		n     int // SRV answers
	}{
		{"_h3._quic.web.proto.svc.cluster.local.", dns.RcodeSuccess, 1},
		{"_h2._tcp.web.proto.svc.cluster.local.", dns.RcodeSuccess, 1},
		{"_quic.web.proto.svc.cluster.local.", dns.RcodeSuccess, 0},
		{"_h3._tcp.web.proto.svc.cluster.local.", dns.RcodeNameError, 0},
		{"_h2._quic.web.proto.svc.cluster.local.", dns.RcodeNameError, 0},
		{"_h3._quic.hl.proto.svc.cluster.local.", dns.RcodeSuccess, 1},
		{"_h3._udp.hl.proto.svc.cluster.local.", dns.RcodeNameError, 0},
	} {
		_, m := ask(k, test.Case{Qname: tc.qname, Qtype: dns.TypeSRV})
		if m == nil || m.Rcode != tc.rcode || len(m.Answer) != tc.n {
			t.Errorf("%s SRV: want %s with %d answers, got %v", tc.qname, dns.RcodeToString[tc.rcode], tc.n, m)
		}
	}
}

// Protocols keep their ids and names, however many others come.
func TestProtocolOfInterns(t *testing.T) {
	for _, name := range []string{"tcp", "udp", "sctp", "quic", "dccp"} {
		p, ok := protocolOf(name)
		again, _ := protocolOf(name)
		if !ok || p != again || p.String() != name {
			t.Errorf("protocolOf(%q): %d (%v), then %d, named %q", name, p, ok, again, p.String())
		}
	}
	if p, _ := protocolOf("tcp"); p != protoTCP {
		t.Errorf("tcp: id %d, want protoTCP", p)
	}
}
