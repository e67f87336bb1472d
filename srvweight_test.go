package kubesvc

import (
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// A dual-stack ClusterIP service's SRV records weigh as stock weighs them,
// one record per cluster IP before they are merged: 50 each at its named
// port's name as at its own; and a ClusterIP service without a cluster IP
// has no SRV target to offer (NODATA).
func TestClusterIPSRVWeighsPerClusterIP(t *testing.T) {
	const (
		dual = "dual.default.svc.cluster.local."
		bare = "bare.default.svc.cluster.local."
	)
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local {\nttl 30\n}",
		clusterIPSvc("default", "dual", []string{"10.96.5.1", "fd00::5:1"}, svcPort("http", corev1.ProtocolTCP, 80)),
		clusterIPSvc("default", "bare", []string{""}, svcPort("http", corev1.ProtocolTCP, 80)))
	addrs := []dns.RR{test.A(dual + " 30 IN A 10.96.5.1"), test.AAAA(dual + " 30 IN AAAA fd00::5:1")}
	runCases(t, k, []test.Case{
		{Qname: "_http._tcp." + dual, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_http._tcp." + dual + " 30 IN SRV 0 50 80 " + dual)}, Extra: addrs},
		{Qname: dual, Qtype: dns.TypeSRV, Answer: []dns.RR{test.SRV(dual + " 30 IN SRV 0 50 80 " + dual)}, Extra: addrs},
		{Qname: "_http._tcp." + bare, Qtype: dns.TypeSRV, Ns: []dns.RR{soaFor(k)}},
	})
}
