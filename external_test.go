package kubesvc

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// newTestExternal parses a kubesvc and a k8s_external block of one server
// block, starts kubesvc's informers on a fake clientset holding objs, and
// waits for the first sync.
func newTestExternal(t testing.TB, kubesvcBlock, externalBlock string, objs ...runtime.Object) (*External, *fake.Clientset) {
	t.Helper()
	k, cfg, err := parse(caddy.NewTestController("dns", kubesvcBlock))
	if err != nil {
		t.Fatalf("parse %q: %v", kubesvcBlock, err)
	}
	e, err := parseExternal(caddy.NewTestController("dns", externalBlock))
	if err != nil {
		t.Fatalf("parse %q: %v", externalBlock, err)
	}
	k.attachExternal(e, cfg)
	e.k = k
	e.Next = test.NextHandler(dns.RcodeRefused, nil) // marks what fell through
	k.Next = test.NextHandler(dns.RcodeRefused, nil)
	client := fake.NewClientset(objs...)
	k.w.start(fakeAPI{c: client}, cfg)
	t.Cleanup(k.w.stop)
	waitFor(t, "first sync", k.Ready)
	return e, client
}

func loadBalancer(svc *corev1.Service, addrs ...string) *corev1.Service {
	svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	for _, a := range addrs {
		if strings.ContainsAny(a, ".:") && !strings.ContainsAny(a, "abcdefghijklmnopqrstuvwxyz") || strings.Contains(a, ":") {
			svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: a})
		} else {
			svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{Hostname: a})
		}
	}
	return svc
}

// externalSeed: a load balancer with an IP and an external IP, one with a
// host name, a headless service with an external IP, one without (its
// endpoints, with headless), a port-less one, and odd objects.
func externalSeed() []runtime.Object {
	lb := loadBalancer(clusterIPSvc("default", "web", []string{"10.96.0.50"}, svcPort("http", corev1.ProtocolTCP, 80), svcPort("https", corev1.ProtocolTCP, 443)), "192.168.0.52")
	lb.Spec.ExternalIPs = []string{"198.51.100.1"}
	named := loadBalancer(clusterIPSvc("default", "named", []string{"10.96.0.51"}, svcPort("http", corev1.ProtocolTCP, 80)), "LB.Example.NET")
	hlExt := headlessSvc("default", "hlext", svcPort("http", corev1.ProtocolTCP, 80))
	hlExt.Spec.ExternalIPs = []string{"198.51.100.2", "2001:db8::2"}
	noPorts := clusterIPSvc("default", "noports", []string{"10.96.0.52"})
	noPorts.Spec.ExternalIPs = []string{"198.51.100.3"}
	odd := loadBalancer(clusterIPSvc("default", "odd", []string{"10.96.0.53"}, svcPort("http", corev1.ProtocolTCP, 80)), "not a name", "-bad-.example.com")
	odd.Spec.ExternalIPs = []string{"300.1.2.3", "fe80::1%eth0"}
	web := []discovery.EndpointPort{slicePort("http", corev1.ProtocolTCP, 80)}
	return []runtime.Object{
		lb, named, hlExt, noPorts, odd,
		clusterIPSvc("default", "internal", []string{"10.96.0.54"}, svcPort("http", corev1.ProtocolTCP, 80)),
		headlessSvc("default", "hl", svcPort("http", corev1.ProtocolTCP, 80)),
		slice("default", "hl-a", "hl", discovery.AddressTypeIPv4, web,
			ep("10.0.1.2", "web-0", true), ep("10.0.1.3", "", true), ep("10.0.1.4", "not-ready", false)),
	}
}

const externalBlock = `k8s_external example.com in-addr.arpa {
	headless
	ttl 60
}`

func TestExternalStockAnswers(t *testing.T) {
	e, _ := newTestExternal(t, clusterCorefile, externalBlock, externalSeed()...)
	soa := "example.com. 60 IN SOA ns1.dns.example.com. hostmaster.dns.example.com. 0 7200 1800 86400 60"
	runCases(t, e, []test.Case{
		{Qname: "web.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("web.default.example.com. 60 IN A 192.168.0.52"), test.A("web.default.example.com. 60 IN A 198.51.100.1")}},
		{Qname: "Web.Default.Example.COM.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("Web.Default.Example.COM. 60 IN A 192.168.0.52"), test.A("Web.Default.Example.COM. 60 IN A 198.51.100.1")}},
		{Qname: "web.default.example.com.", Qtype: dns.TypeAAAA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "web.default.example.com.", Qtype: dns.TypeTXT, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "web.default.example.com.", Qtype: dns.TypeSRV, Answer: []dns.RR{
			test.SRV("web.default.example.com. 60 IN SRV 0 25 443 web.default.example.com."),
			test.SRV("web.default.example.com. 60 IN SRV 0 25 80 web.default.example.com.")},
			Extra: []dns.RR{test.A("web.default.example.com. 60 IN A 192.168.0.52"), test.A("web.default.example.com. 60 IN A 198.51.100.1")}},
		{Qname: "_https._tcp.web.default.example.com.", Qtype: dns.TypeSRV, Answer: []dns.RR{
			test.SRV("_https._tcp.web.default.example.com. 60 IN SRV 0 50 443 web.default.example.com.")},
			Extra: []dns.RR{test.A("web.default.example.com. 60 IN A 192.168.0.52"), test.A("web.default.example.com. 60 IN A 198.51.100.1")}},
		{Qname: "_http._udp.web.default.example.com.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "named.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.CNAME("named.default.example.com. 60 IN CNAME lb.example.net.")}},
		{Qname: "hlext.default.example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{
			test.AAAA("hlext.default.example.com. 60 IN AAAA 2001:db8::2")}},
		{Qname: "hl.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("hl.default.example.com. 60 IN A 10.0.1.2"), test.A("hl.default.example.com. 60 IN A 10.0.1.3")}},
		{Qname: "web-0.hl.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("web-0.hl.default.example.com. 60 IN A 10.0.1.2")}},
		{Qname: "hl.default.example.com.", Qtype: dns.TypeSRV, Answer: []dns.RR{
			test.SRV("hl.default.example.com. 60 IN SRV 0 50 80 10-0-1-3.hl.default.example.com."),
			test.SRV("hl.default.example.com. 60 IN SRV 0 50 80 web-0.hl.default.example.com.")},
			Extra: []dns.RR{test.A("10-0-1-3.hl.default.example.com. 60 IN A 10.0.1.3"), test.A("web-0.hl.default.example.com. 60 IN A 10.0.1.2")}},
		{Qname: "not-ready.hl.default.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "noports.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("noports.default.example.com. 60 IN A 198.51.100.3")}},
		{Qname: "noports.default.example.com.", Qtype: dns.TypeSRV, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "odd.default.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "internal.default.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "x.web.default.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "a.b.c.d.e.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "default.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "example.com.", Qtype: dns.TypeSOA, Answer: []dns.RR{test.SOA(soa)}},
		{Qname: "example.com.", Qtype: dns.TypeNS, Answer: []dns.RR{test.NS("example.com. 60 IN NS ns1.dns.example.com.")}},
		{Qname: "example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "dns.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "ns1.dns.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "ns2.dns.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "52.0.168.192.in-addr.arpa.", Qtype: dns.TypePTR, Answer: []dns.RR{
			test.PTR("52.0.168.192.in-addr.arpa. 60 IN PTR web.default.example.com.")}},
		{Qname: "2.0.0.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeNameError,
			Ns: []dns.RR{test.SOA("in-addr.arpa. 60 IN SOA ns1.dns.in-addr.arpa. hostmaster.dns.in-addr.arpa. 0 7200 1800 86400 60")}},
	})
}
