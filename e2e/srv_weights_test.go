package e2e

import (
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// SRV weights of dual-stack services as stock gives them: 100 divided by
// the records stock counts before it merges those of one target and port,
// one per address (a cluster IP, an endpoint address) and matching port.
func TestDifferentialDualStackSRVWeights(t *testing.T) {
	suite(t)
	const ns = "e2e-srv-weights"
	namespace(t, ns)
	ds := clusterIPService(ns, "ds", "http", 80)
	ds.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
	createService(t, ds)
	createService(t, headlessService(ns, "hl", "http", 80))
	http := []discoveryv1.EndpointPort{port("http", 80)}
	createSlice(t, familySlice(ns, "hl-4", "hl", discoveryv1.AddressTypeIPv4, http,
		ep{ip: "10.46.0.1", hostname: "web-0"}, ep{ip: "10.46.0.2", hostname: "web-1"}, ep{ip: "10.46.0.3"}))
	createSlice(t, familySlice(ns, "hl-6", "hl", discoveryv1.AddressTypeIPv6, http,
		ep{ip: "fd00:46::1", hostname: "web-0"}, ep{ip: "fd00:46::2", hostname: "web-1"}))
	kubesvc, stock := differentialPair(t)
	const svc = "." + ns + ".svc.cluster.local."
	bothAnswer(t, kubesvc, stock, "_http._tcp.hl"+svc, dns.TypeSRV, dns.RcodeSuccess, 3)
	bothAnswer(t, kubesvc, stock, "ds"+svc, dns.TypeAAAA, dns.RcodeSuccess, 1)
	sameAnswers(t, kubesvc, stock, []question{
		{"_http._tcp.ds" + svc, dns.TypeSRV}, {"ds" + svc, dns.TypeSRV},
		{"_http._tcp.hl" + svc, dns.TypeSRV}, {"hl" + svc, dns.TypeSRV},
	})
}
