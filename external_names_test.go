package kubesvc

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func ingressObj(ns, name string, hosts []string, addrs ...string) *networkingv1.Ingress {
	in := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"}}
	for _, h := range hosts {
		in.Spec.Rules = append(in.Spec.Rules, networkingv1.IngressRule{Host: h})
	}
	for _, a := range addrs {
		if _, ok := hostAddr(a); ok {
			in.Status.LoadBalancer.Ingress = append(in.Status.LoadBalancer.Ingress, networkingv1.IngressLoadBalancerIngress{IP: a})
		} else {
			in.Status.LoadBalancer.Ingress = append(in.Status.LoadBalancer.Ingress, networkingv1.IngressLoadBalancerIngress{Hostname: a})
		}
	}
	return in
}

// The seed's objects: an Ingress, and a load balancer with external-dns's
// hostname and target annotations; odd ones besides.
func namesSeed() []runtime.Object {
	web := loadBalancer(clusterIPSvc("default", "web", []string{"10.96.0.60"}, svcPort("http", corev1.ProtocolTCP, 80)), "192.168.0.52")
	web.Annotations = map[string]string{annotationHostname: "web.example.com, Www.Example.com.,not a name,*.example.com", annotationTarget: "203.0.113.20"}
	ttl := loadBalancer(clusterIPSvc("default", "ttl", []string{"10.96.0.61"}, svcPort("http", corev1.ProtocolTCP, 80)), "192.168.0.53")
	ttl.Annotations = map[string]string{annotationHostname: "ttl.example.com", annotationTTL: "120"}
	badTTL := loadBalancer(clusterIPSvc("default", "badttl", []string{"10.96.0.62"}, svcPort("http", corev1.ProtocolTCP, 80)), "lb.example.net")
	badTTL.Annotations = map[string]string{annotationHostname: "badttl.example.com,other.example.org", annotationTTL: "forever"}
	return []runtime.Object{
		web, ttl, badTTL,
		ingressObj("default", "example-ingress", []string{"xxx.example.com", "*.wild.example.com", "", "XXX.example.com"}, "192.168.0.51"),
		ingressObj("default", "pending", []string{"pending.example.com"}),
		ingressObj("default", "v6", []string{"v6.example.com"}, "2001:db8::51", "300.1.1.1"),
	}
}

func TestExternalIngressAndHostnames(t *testing.T) {
	e, client := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n ingress\n hostnames\n}", namesSeed()...)
	soa := "example.com. 5 IN SOA ns1.dns.example.com. hostmaster.dns.example.com. 0 7200 1800 86400 5"
	runCases(t, e, []test.Case{
		{Qname: "xxx.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("xxx.example.com. 5 IN A 192.168.0.51")}},
		{Qname: "XXX.Example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("XXX.Example.com. 5 IN A 192.168.0.51")}},
		{Qname: "xxx.example.com.", Qtype: dns.TypeAAAA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "v6.example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("v6.example.com. 5 IN AAAA 2001:db8::51")}},
		{Qname: "pending.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "default.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "nope.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "a.wild.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "web.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("web.example.com. 5 IN A 192.168.0.52")}},
		{Qname: "www.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("www.example.com. 5 IN A 192.168.0.52")}},
		{Qname: "web.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("web.default.example.com. 5 IN A 192.168.0.52")}},
		{Qname: "ttl.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("ttl.example.com. 120 IN A 192.168.0.53")}},
		{Qname: "badttl.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.CNAME("badttl.example.com. 5 IN CNAME lb.example.net.")}},
		{Qname: "badttl.example.com.", Qtype: dns.TypeCNAME, Answer: []dns.RR{test.CNAME("badttl.example.com. 5 IN CNAME lb.example.net.")}},
	})
	// Deleting the Ingress takes its name away; a new status moves it.
	ctx := context.Background()
	in := ingressObj("default", "pending", []string{"pending.example.com"}, "192.168.0.99")
	in.ResourceVersion = "2"
	if _, err := client.NetworkingV1().Ingresses("default").UpdateStatus(ctx, in, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.NetworkingV1().Ingresses("default").Delete(ctx, "example-ingress", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Ingress's deletion", func() bool {
		_, gone := ask(e, test.Case{Qname: "xxx.example.com.", Qtype: dns.TypeA})
		return gone.Rcode == dns.RcodeNameError
	})
	waitFor(t, "the new status", func() bool {
		_, moved := ask(e, test.Case{Qname: "pending.example.com.", Qtype: dns.TypeA})
		return len(moved.Answer) == 1 && moved.Answer[0].(*dns.A).A.String() == "192.168.0.99"
	})
}

// Without ingress and hostnames, the objects' own names are not served;
// with public, every name answers its public face.
func TestExternalOptionsChooseTheFace(t *testing.T) {
	plain, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com", namesSeed()...)
	if _, m := ask(plain, test.Case{Qname: "xxx.example.com.", Qtype: dns.TypeA}); m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("without ingress, xxx.example.com. must be NXDOMAIN, got %v", m)
	}
	if _, m := ask(plain, test.Case{Qname: "www.example.com.", Qtype: dns.TypeA}); m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("without hostnames, www.example.com. must be NXDOMAIN, got %v", m)
	}
	public, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n ingress\n hostnames\n public 203.0.113.10\n ttl 900\n}", namesSeed()...)
	runCases(t, public, []test.Case{
		{Qname: "xxx.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("xxx.example.com. 900 IN A 203.0.113.10")}},
		{Qname: "web.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("web.example.com. 900 IN A 203.0.113.20")}},
		{Qname: "web.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("web.default.example.com. 900 IN A 203.0.113.20")}},
		{Qname: "ttl.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("ttl.example.com. 120 IN A 203.0.113.10")}},
		{Qname: "ns1.dns.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("ns1.dns.example.com. 900 IN A 203.0.113.10")}},
		{Qname: "example.com.", Qtype: dns.TypeNS, Answer: []dns.RR{test.NS("example.com. 900 IN NS ns1.dns.example.com.")},
			Extra: []dns.RR{test.A("ns1.dns.example.com. 900 IN A 203.0.113.10")}},
	})
}

// namespace_labels holds in the external zone too: the services of a
// namespace it does not select have no external names, and a namespace's
// own name exists only if it is selected (with pods insecure or not).
func TestExternalNamespaceLabels(t *testing.T) {
	inA := loadBalancer(clusterIPSvc("team-a", "web", []string{"10.96.0.70"}, svcPort("http", corev1.ProtocolTCP, 80)), "192.168.0.70")
	inB := loadBalancer(clusterIPSvc("team-b", "web", []string{"10.96.0.71"}, svcPort("http", corev1.ProtocolTCP, 80)), "192.168.0.71")
	e, _ := newTestExternal(t, "kubesvc cluster.local {\n namespace_labels team=a\n}", "k8s_external example.com {\n ingress\n}",
		labelledNamespace("team-a", map[string]string{"team": "a"}), labelledNamespace("team-b", map[string]string{"team": "b"}), inA, inB,
		ingressObj("team-b", "shop", []string{"shop.example.com"}, "192.168.0.72"))
	soa := "example.com. 5 IN SOA ns1.dns.example.com. hostmaster.dns.example.com. 0 7200 1800 86400 5"
	runCases(t, e, []test.Case{
		{Qname: "web.team-a.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("web.team-a.example.com. 5 IN A 192.168.0.70")}},
		{Qname: "team-a.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "web.team-b.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "team-b.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "shop.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
	})
	// team-b comes to match (the Namespace watch's event), then stops:
	// its service's and its Ingress's names come and go with it at once.
	e.k.w.setNamespace("team-b", true)
	runCases(t, e, []test.Case{
		{Qname: "web.team-b.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("web.team-b.example.com. 5 IN A 192.168.0.71")}},
		{Qname: "shop.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("shop.example.com. 5 IN A 192.168.0.72")}},
	})
	e.k.w.setNamespace("team-b", false)
	runCases(t, e, []test.Case{
		{Qname: "web.team-b.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "shop.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
	})
}
