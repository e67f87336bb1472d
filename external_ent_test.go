package kubesvc

import (
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// A name with names below it exists (RFC 8020): an Ingress host two labels
// below the zone makes its parent an empty non-terminal, NODATA, never
// NXDOMAIN (a resolver minimising its question, or caching NXDOMAIN as
// "nothing below", would lose the host). So does _<proto> below a service
// with named ports. Only the kinds of names the block serves count.
func TestExternalEmptyNonTerminalsAreNoData(t *testing.T) {
	web := loadBalancer(clusterIPSvc("default", "web", []string{"10.96.0.60"}, svcPort("http", corev1.ProtocolTCP, 80)), "192.168.0.52")
	web.Annotations = map[string]string{annotationHostname: "api.eu.shop.example.com"}
	objs := []runtime.Object{web, ingressObj("default", "app", []string{"app.team.example.com"}, "192.168.0.51")}
	e, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n ingress\n hostnames\n}", objs...)
	soa := "example.com. 5 IN SOA ns1.dns.example.com. hostmaster.dns.example.com. 0 7200 1800 86400 5"
	runCases(t, e, []test.Case{
		{Qname: "app.team.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("app.team.example.com. 5 IN A 192.168.0.51")}},
		{Qname: "team.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "Team.Example.com.", Qtype: dns.TypeNS, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "eu.shop.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "shop.example.com.", Qtype: dns.TypeAAAA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "x.team.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "_tcp.web.default.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "_udp.web.default.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
	})
	// Without ingress, the Ingress's host and its parent do not exist.
	plain, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n hostnames\n}", objs...)
	runCases(t, plain, []test.Case{
		{Qname: "team.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "shop.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
	})
}

// A host at the zone's apex (an Ingress for example.com itself, the most
// common site name) answers its addresses beside the apex's SOA and NS.
func TestExternalApexHostAnswersAddresses(t *testing.T) {
	in := ingressObj("default", "site", []string{"Example.com"}, "192.168.0.51", "2001:db8::51")
	e, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n ingress\n}", in)
	soa := "example.com. 5 IN SOA ns1.dns.example.com. hostmaster.dns.example.com. 0 7200 1800 86400 5"
	runCases(t, e, []test.Case{
		{Qname: "example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("example.com. 5 IN A 192.168.0.51")}},
		{Qname: "example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("example.com. 5 IN AAAA 2001:db8::51")}},
		{Qname: "example.com.", Qtype: dns.TypeSOA, Answer: []dns.RR{test.SOA(soa)}},
		{Qname: "example.com.", Qtype: dns.TypeTXT, Ns: []dns.RR{test.SOA(soa)}},
	})
	public, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n ingress\n public 203.0.113.10\n}", in)
	runCases(t, public, []test.Case{
		{Qname: "example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("example.com. 5 IN A 203.0.113.10")}},
	})
}

// A zone transfer holds the apex's addresses too.
func TestExternalTransferHoldsApexHost(t *testing.T) {
	in := ingressObj("default", "site", []string{"example.com"}, "192.168.0.51", "lb.example.net")
	e, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n ingress\n}", in)
	ch, err := e.Transfer("example.com.", 0)
	if err != nil {
		t.Fatal(err)
	}
	var apex []string
	for rrs := range ch {
		for _, rr := range rrs {
			if rr.Header().Name == "example.com." && rr.Header().Rrtype != dns.TypeSOA && rr.Header().Rrtype != dns.TypeNS {
				apex = append(apex, rr.String())
			}
		}
	}
	if len(apex) != 1 || apex[0] != "example.com.\t5\tIN\tA\t192.168.0.51" {
		t.Errorf("the transfer's apex records besides SOA and NS: %q, want its one A record (no CNAME at the apex)", apex)
	}
}

// An object of another namespace cannot take over a service's own name
// (<svc>.<ns>.<zone> and below) with a hostname annotation or an Ingress
// host: any tenant can write those. The service's namespace still can.
func TestExternalForeignClaimsDoNotTakeOverServiceNames(t *testing.T) {
	web := loadBalancer(clusterIPSvc("default", "web", []string{"10.96.0.60"}, svcPort("http", corev1.ProtocolTCP, 80)), "192.168.0.52")
	evil := loadBalancer(clusterIPSvc("evil", "x", []string{"10.96.0.66"}, svcPort("http", corev1.ProtocolTCP, 80)), "192.168.0.66")
	evil.Annotations = map[string]string{annotationHostname: "web.default.example.com,free.default.example.com", annotationTarget: "198.51.100.66"}
	own := loadBalancer(clusterIPSvc("default", "own", []string{"10.96.0.67"}, svcPort("http", corev1.ProtocolTCP, 80)), "192.168.0.67")
	own.Annotations = map[string]string{annotationHostname: "own.default.example.com,shop.example.com"}
	objs := []runtime.Object{web, evil, own, ingressObj("evil", "i", []string{"web.default.example.com", "own.default.example.com"}, "192.168.0.68")}
	e, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n ingress\n hostnames\n public 203.0.113.10\n}", objs...)
	runCases(t, e, []test.Case{
		{Qname: "web.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("web.default.example.com. 5 IN A 203.0.113.10")}},
		{Qname: "own.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("own.default.example.com. 5 IN A 203.0.113.10")}},
		// No service of default holds free: the claim answers.
		{Qname: "free.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("free.default.example.com. 5 IN A 198.51.100.66")}},
	})
	inside, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n ingress\n hostnames\n}", objs...)
	runCases(t, inside, []test.Case{
		{Qname: "web.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("web.default.example.com. 5 IN A 192.168.0.52")}},
		{Qname: "own.default.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("own.default.example.com. 5 IN A 192.168.0.67")}},
	})
}
