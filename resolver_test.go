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
)

const clusterCorefile = `kubesvc cluster.local in-addr.arpa ip6.arpa {
	pods insecure
	fallthrough in-addr.arpa ip6.arpa
	ttl 30
}`

// seed is the cluster of the documents kubesvc started from, plus the odd
// cases the specification names.
func seed() []runtime.Object {
	pnr := headlessSvc("default", "pnr", svcPort("web", corev1.ProtocolTCP, 80))
	pnr.Spec.PublishNotReadyAddresses = true
	web := []discovery.EndpointPort{slicePort("http-port", corev1.ProtocolTCP, 80)}
	return []runtime.Object{
		clusterIPSvc("default", "sample-clusterip", []string{"10.96.246.109"},
			svcPort("http-port", corev1.ProtocolTCP, 8080), svcPort("", corev1.ProtocolTCP, 9090)),
		clusterIPSvc("default", "dual", []string{"10.96.0.20", "fd00:10:96::20"}, svcPort("dns", corev1.ProtocolUDP, 53)),
		clusterIPSvc("kube-system", "kube-dns", []string{"10.96.0.10"}, svcPort("dns", corev1.ProtocolUDP, 53)),
		headlessSvc("default", "sample-headless", svcPort("http-port", corev1.ProtocolTCP, 80)),
		slice("default", "sample-headless-a", "sample-headless", discovery.AddressTypeIPv4, web,
			ep("10.0.1.2", "sample-statefulset-headless-0", true),
			ep("10.0.1.3", "sample-statefulset-headless-1", true)),
		slice("default", "sample-headless-b", "sample-headless", discovery.AddressTypeIPv4, web,
			ep("10.0.1.3", "sample-statefulset-headless-1", true), // also in slice a: once only
			ep("10.0.1.4", "sample-statefulset-headless-2", true),
			ep("10.0.2.7", "", true),
			ep("10.0.1.9", "not-ready", false)),
		slice("default", "sample-headless-v6", "sample-headless", discovery.AddressTypeIPv6, web,
			ep("fd00::4", "sample-statefulset-headless-2", true)),
		pnr,
		slice("default", "pnr-a", "pnr", discovery.AddressTypeIPv4,
			[]discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 8080)}, ep("10.0.3.1", "", false)),
		slice("default", "orphan", "", discovery.AddressTypeIPv4, web, ep("10.0.4.1", "lost", true)),
		// Issue 14: an IPv6 address ending in ::, an address with a hostname
		// in one slice only (in both orders of slice names), no ready endpoint.
		headlessSvc("default", "v6h", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("default", "v6h-a", "v6h", discovery.AddressTypeIPv6, web, ep("fd00:10:244:1::", "", true)),
		headlessSvc("default", "hs", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("default", "hs-a", "hs", discovery.AddressTypeIPv4, web, ep("10.0.7.1", "", true)),
		slice("default", "hs-b", "hs", discovery.AddressTypeIPv4, web, ep("10.0.7.1", "web-0", true)),
		headlessSvc("default", "sh", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("default", "sh-a", "sh", discovery.AddressTypeIPv4, web, ep("10.0.7.2", "web-0", true)),
		slice("default", "sh-b", "sh", discovery.AddressTypeIPv4, web, ep("10.0.7.2", "", true)),
		headlessSvc("default", "idle", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("default", "idle-a", "idle", discovery.AddressTypeIPv4, web, ep("10.0.8.1", "idle-0", false)),
		externalSvc("test", "my-blog", "blog.mosuke.tech"),
		externalSvc("default", "ip-ext", "1.2.3.4"),
		externalSvc("default", "bad-ext", "not a name!"),
	}
}

func soa(zone string) dns.RR {
	return test.SOA(zone + " 30 IN SOA ns.dns.cluster.local. hostmaster." + zone + " 0 7200 1800 86400 30")
}

func TestResolve(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	zsoa := []dns.RR{soa("cluster.local.")}
	const cip = "sample-clusterip.default.svc.cluster.local."
	const hl = "sample-headless.default.svc.cluster.local."
	runCases(t, k, []test.Case{
		// The zone's own records.
		{Qname: "dns-version.cluster.local.", Qtype: dns.TypeTXT,
			Answer: []dns.RR{test.TXT(`dns-version.cluster.local. 28800 IN TXT "1.1.0"`)}},
		{Qname: "cluster.local.", Qtype: dns.TypeSOA, Answer: zsoa},
		{Qname: "cluster.local.", Qtype: dns.TypeNS,
			Answer: []dns.RR{test.NS("cluster.local. 30 IN NS ns.dns.cluster.local.")},
			Extra:  []dns.RR{test.A("ns.dns.cluster.local. 30 IN A 10.96.0.10")}},
		{Qname: "cluster.local.", Qtype: dns.TypeA, Ns: zsoa},
		{Qname: "ns.dns.cluster.local.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("ns.dns.cluster.local. 30 IN A 10.96.0.10")}},

		// ClusterIP: A, NODATA for AAAA, SRV for named ports only, PTR.
		{Qname: cip, Qtype: dns.TypeA, Answer: []dns.RR{test.A(cip + " 30 IN A 10.96.246.109")}},
		{Qname: cip, Qtype: dns.TypeAAAA, Ns: zsoa},
		{Qname: cip, Qtype: dns.TypeMX, Ns: zsoa},
		{Qname: "_http-port._tcp." + cip, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_http-port._tcp." + cip + " 30 IN SRV 0 100 8080 " + cip)},
			Extra:  []dns.RR{test.A(cip + " 30 IN A 10.96.246.109")}},
		{Qname: "_http-port._tcp." + cip, Qtype: dns.TypeANY, // the SRV only: its additionals stay additional
			Answer: []dns.RR{test.SRV("_http-port._tcp." + cip + " 30 IN SRV 0 100 8080 " + cip)}},
		{Qname: "_http-port._udp." + cip, Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "_tcp." + cip, Qtype: dns.TypeSRV, Ns: zsoa}, // parent of the SRV name
		{Qname: "109.246.96.10.in-addr.arpa.", Qtype: dns.TypePTR,
			Answer: []dns.RR{test.PTR("109.246.96.10.in-addr.arpa. 30 IN PTR " + cip)}},

		// Dual-stack.
		{Qname: "dual.default.svc.cluster.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("dual.default.svc.cluster.local. 30 IN A 10.96.0.20")}},
		{Qname: "dual.default.svc.cluster.local.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("dual.default.svc.cluster.local. 30 IN AAAA fd00:10:96::20")}},
		{Qname: "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", Qtype: dns.TypePTR,
			Answer: []dns.RR{test.PTR("0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 30 IN PTR dual.default.svc.cluster.local.")}},

		// Headless: ready endpoints of all slices, once each.
		{Qname: hl, Qtype: dns.TypeA, Answer: []dns.RR{
			test.A(hl + " 30 IN A 10.0.1.2"), test.A(hl + " 30 IN A 10.0.1.3"),
			test.A(hl + " 30 IN A 10.0.1.4"), test.A(hl + " 30 IN A 10.0.2.7")}},
		{Qname: hl, Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA(hl + " 30 IN AAAA fd00::4")}},
		{Qname: "sample-statefulset-headless-1." + hl, Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("sample-statefulset-headless-1." + hl + " 30 IN A 10.0.1.3")}},
		{Qname: "sample-statefulset-headless-2." + hl, Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("sample-statefulset-headless-2." + hl + " 30 IN AAAA fd00::4")}},
		{Qname: "10-0-2-7." + hl, Qtype: dns.TypeA, Answer: []dns.RR{test.A("10-0-2-7." + hl + " 30 IN A 10.0.2.7")}},
		{Qname: "not-ready." + hl, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "_http-port._tcp." + hl, Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV("_http-port._tcp." + hl + " 30 IN SRV 0 20 80 10-0-2-7." + hl),
				test.SRV("_http-port._tcp." + hl + " 30 IN SRV 0 20 80 sample-statefulset-headless-0." + hl),
				test.SRV("_http-port._tcp." + hl + " 30 IN SRV 0 20 80 sample-statefulset-headless-1." + hl),
				test.SRV("_http-port._tcp." + hl + " 30 IN SRV 0 20 80 sample-statefulset-headless-2." + hl)},
			Extra: []dns.RR{
				test.A("10-0-2-7." + hl + " 30 IN A 10.0.2.7"),
				test.A("sample-statefulset-headless-0." + hl + " 30 IN A 10.0.1.2"),
				test.A("sample-statefulset-headless-1." + hl + " 30 IN A 10.0.1.3"),
				test.A("sample-statefulset-headless-2." + hl + " 30 IN A 10.0.1.4"),
				test.AAAA("sample-statefulset-headless-2." + hl + " 30 IN AAAA fd00::4")}},
		{Qname: "3.1.0.10.in-addr.arpa.", Qtype: dns.TypePTR,
			Answer: []dns.RR{test.PTR("3.1.0.10.in-addr.arpa. 30 IN PTR sample-statefulset-headless-1." + hl)}},
		{Qname: "pnr.default.svc.cluster.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("pnr.default.svc.cluster.local. 30 IN A 10.0.3.1")}},

		// Dashed IPv6 names are host names: fd00:10:244:1:: is fd00-10-244-1--0.
		{Qname: "_http-port._tcp.v6h.default.svc.cluster.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_http-port._tcp.v6h.default.svc.cluster.local. 30 IN SRV 0 100 80 fd00-10-244-1--0.v6h.default.svc.cluster.local.")},
			Extra:  []dns.RR{test.AAAA("fd00-10-244-1--0.v6h.default.svc.cluster.local. 30 IN AAAA fd00:10:244:1::")}},
		{Qname: "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.4.4.2.0.0.1.0.0.0.0.d.f.ip6.arpa.", Qtype: dns.TypePTR,
			Answer: []dns.RR{test.PTR("0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.4.4.2.0.0.1.0.0.0.0.d.f.ip6.arpa. 30 IN PTR fd00-10-244-1--0.v6h.default.svc.cluster.local.")}},
		{Qname: "fd00-10-244-1--0.default.pod.cluster.local.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("fd00-10-244-1--0.default.pod.cluster.local. 30 IN AAAA fd00:10:244:1::")}},

		// An address with a hostname in one slice and none in another has
		// both names, whichever slice is named first; its PTR names the
		// hostname.
		{Qname: "web-0.hs.default.svc.cluster.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("web-0.hs.default.svc.cluster.local. 30 IN A 10.0.7.1")}},
		{Qname: "web-0.sh.default.svc.cluster.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("web-0.sh.default.svc.cluster.local. 30 IN A 10.0.7.2")}},
		{Qname: "hs.default.svc.cluster.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("hs.default.svc.cluster.local. 30 IN A 10.0.7.1")}},
		{Qname: "10-0-7-2.sh.default.svc.cluster.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("10-0-7-2.sh.default.svc.cluster.local. 30 IN A 10.0.7.2")}},
		{Qname: "_http-port._tcp.sh.default.svc.cluster.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV("_http-port._tcp.sh.default.svc.cluster.local. 30 IN SRV 0 50 80 10-0-7-2.sh.default.svc.cluster.local."),
				test.SRV("_http-port._tcp.sh.default.svc.cluster.local. 30 IN SRV 0 50 80 web-0.sh.default.svc.cluster.local."),
			},
			Extra: []dns.RR{
				test.A("10-0-7-2.sh.default.svc.cluster.local. 30 IN A 10.0.7.2"),
				test.A("web-0.sh.default.svc.cluster.local. 30 IN A 10.0.7.2"),
			}},
		{Qname: "1.7.0.10.in-addr.arpa.", Qtype: dns.TypePTR,
			Answer: []dns.RR{test.PTR("1.7.0.10.in-addr.arpa. 30 IN PTR web-0.hs.default.svc.cluster.local.")}},
		{Qname: "2.7.0.10.in-addr.arpa.", Qtype: dns.TypePTR,
			Answer: []dns.RR{test.PTR("2.7.0.10.in-addr.arpa. 30 IN PTR web-0.sh.default.svc.cluster.local.")}},

		// No ready endpoint: the headless service's names do not exist.
		{Qname: "idle.default.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "idle.default.svc.cluster.local.", Qtype: dns.TypeAAAA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "_http-port._tcp.idle.default.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "idle-0.idle.default.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},

		// ExternalName: the CNAME (chasing needs a running server).
		{Qname: "my-blog.test.svc.cluster.local.", Qtype: dns.TypeCNAME,
			Answer: []dns.RR{test.CNAME("my-blog.test.svc.cluster.local. 30 IN CNAME blog.mosuke.tech.")}},
		{Qname: "my-blog.test.svc.cluster.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.CNAME("my-blog.test.svc.cluster.local. 30 IN CNAME blog.mosuke.tech.")}},
		{Qname: "my-blog.test.svc.cluster.local.", Qtype: dns.TypeTXT,
			Answer: []dns.RR{test.CNAME("my-blog.test.svc.cluster.local. 30 IN CNAME blog.mosuke.tech.")}},
		{Qname: "ip-ext.default.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "bad-ext.default.svc.cluster.local.", Qtype: dns.TypeCNAME, Rcode: dns.RcodeNameError, Ns: zsoa},

		// Parents of records exist (RFC 8020); the rest is NXDOMAIN.
		{Qname: "svc.cluster.local.", Qtype: dns.TypeA, Ns: zsoa},
		{Qname: "default.svc.cluster.local.", Qtype: dns.TypeA, Ns: zsoa},
		{Qname: "test.svc.cluster.local.", Qtype: dns.TypeSRV, Ns: zsoa},
		{Qname: "nobody.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "nope.default.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "a.b.c.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "lost.orphan.default.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},

		// Pods, from the name alone.
		{Qname: "1-2-3-4.default.pod.cluster.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("1-2-3-4.default.pod.cluster.local. 30 IN A 1.2.3.4")}},
		{Qname: "fd00--1.default.pod.cluster.local.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("fd00--1.default.pod.cluster.local. 30 IN AAAA fd00::1")}},
		{Qname: "1-2-3-4.default.pod.cluster.local.", Qtype: dns.TypeAAAA, Ns: zsoa},
		{Qname: "default.pod.cluster.local.", Qtype: dns.TypeA, Ns: zsoa},
		{Qname: "1-2-3.default.pod.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "x.1-2-3-4.default.pod.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
	})
}

func TestCaseInsensitive(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	q := "Sample-ClusterIP.DEFAULT.svc.Cluster.Local."
	_, m := ask(k, test.Case{Qname: q, Qtype: dns.TypeA})
	if m == nil || len(m.Answer) != 1 || m.Question[0].Name != q || m.Rcode != dns.RcodeSuccess {
		t.Fatalf("want one answer and the question echoed as asked, got %v", m)
	}
	if !m.Authoritative {
		t.Errorf("answer is not authoritative")
	}
}

func TestPodsDisabled(t *testing.T) {
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local", seed()...)
	_, m := ask(k, test.Case{Qname: "1-2-3-4.default.pod.cluster.local.", Qtype: dns.TypeA})
	if m == nil || m.Rcode != dns.RcodeNameError {
		t.Fatalf("pods disabled: want NXDOMAIN, got %v", m)
	}
	_, m = ask(k, test.Case{Qname: "sample-clusterip.default.svc.cluster.local.", Qtype: dns.TypeA})
	if m == nil || len(m.Answer) != 1 || m.Answer[0].Header().Ttl != defaultTTL {
		t.Fatalf("want the default TTL %d, got %v", defaultTTL, m)
	}
}

func TestFallthrough(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile, seed()...)
	for _, tc := range []struct {
		name     string
		qtype    uint16
		fallsOff bool // reaches the next plugin (which answers REFUSED here)
	}{
		{"4.3.2.1.in-addr.arpa.", dns.TypePTR, true},   // not a cluster IP
		{"3.1.0.10.in-addr.arpa.", dns.TypePTR, false}, // an endpoint
		{"example.com.", dns.TypeA, true},              // outside the zones
		{"nope.default.svc.cluster.local.", dns.TypeA, false},
	} {
		rcode, _ := ask(k, test.Case{Qname: tc.name, Qtype: tc.qtype})
		if got := rcode == dns.RcodeRefused; got != tc.fallsOff {
			t.Errorf("%s: fell through = %v, want %v (rcode %s)", tc.name, got, tc.fallsOff, dns.RcodeToString[rcode])
		}
	}
}

func TestServfailBeforeSync(t *testing.T) {
	k, _, err := parse(caddy.NewTestController("dns", clusterCorefile))
	if err != nil {
		t.Fatal(err)
	}
	rcode, m := ask(k, test.Case{Qname: "sample-clusterip.default.svc.cluster.local.", Qtype: dns.TypeA})
	if rcode != dns.RcodeServerFailure || m != nil || k.Ready() {
		t.Fatalf("before sync: want SERVFAIL and not ready, got rcode %s, ready %v, msg %v", dns.RcodeToString[rcode], k.Ready(), m)
	}
}

func TestLabelsAndNamespaces(t *testing.T) {
	labelled := clusterIPSvc("default", "labelled", []string{"10.96.1.1"})
	labelled.Labels = map[string]string{"dns": "yes"}
	objs := append(seed(), labelled)
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local {\nlabels dns=yes\n}", objs...)
	if _, m := ask(k, test.Case{Qname: "labelled.default.svc.cluster.local.", Qtype: dns.TypeA}); m == nil || len(m.Answer) != 1 {
		t.Errorf("labels: matching service not served: %v", m)
	}
	if _, m := ask(k, test.Case{Qname: "sample-clusterip.default.svc.cluster.local.", Qtype: dns.TypeA}); m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("labels: other service served: %v", m)
	}

	k, _ = newTestKubeSvc(t, "kubesvc cluster.local {\nnamespaces test\npods insecure\n}", objs...)
	for name, want := range map[string]int{
		"my-blog.test.svc.cluster.local.":             dns.RcodeSuccess,
		"sample-clusterip.default.svc.cluster.local.": dns.RcodeNameError,
		"1-2-3-4.test.pod.cluster.local.":             dns.RcodeSuccess,
		"1-2-3-4.default.pod.cluster.local.":          dns.RcodeNameError,
	} {
		if _, m := ask(k, test.Case{Qname: name, Qtype: dns.TypeA}); m == nil || m.Rcode != want {
			t.Errorf("namespaces test: %s: want %s, got %v", name, dns.RcodeToString[want], m)
		}
	}
}

// Odd objects from the API never crash the plugin nor give a wrong answer.
func TestOddObjects(t *testing.T) {
	long := strings.Repeat("a", 63)
	sctp := corev1.Protocol("SCTP")
	odd := corev1.Protocol("QUIC/1")
	noPorts := headlessSvc("odd", "noports")
	unnamed := clusterIPSvc("odd", "unnamed", []string{"10.96.9.1"}, svcPort("", corev1.ProtocolTCP, 80), svcPort("x", odd, 81), svcPort("s", sctp, 82))
	badIP := clusterIPSvc("odd", "badip", []string{"not-an-ip", "10.96.9.2"})
	longSvc := headlessSvc(long, long, svcPort("p", corev1.ProtocolTCP, 1))
	emptyEp := discovery.Endpoint{Addresses: nil}
	k, _ := newTestKubeSvc(t, "kubesvc "+long+".example {\nttl 30\n}",
		noPorts, unnamed, badIP, longSvc,
		slice("odd", "noports-a", "noports", discovery.AddressTypeIPv4, nil, emptyEp, ep("10.0.9.1", "", true), ep("garbage", "h", true)),
		slice("odd", "noports-fqdn", "noports", discovery.AddressTypeFQDN, nil, ep("example.com", "", true)),
		slice("odd", "nolabel", "", discovery.AddressTypeIPv4, nil, ep("10.0.9.9", "", true)),
		slice(long, "long-a", long, discovery.AddressTypeIPv4, []discovery.EndpointPort{slicePort("p", corev1.ProtocolTCP, 1)},
			ep("10.0.9.3", long, true)),
	)
	zone := long + ".example."
	name := func(rel string) string { return rel + "." + zone }
	for _, tc := range []struct {
		qname string
		qtype uint16
		rcode int
		n     int // answers
	}{
		{name("noports.odd.svc"), dns.TypeA, dns.RcodeSuccess, 1},
		{name("unnamed.odd.svc"), dns.TypeA, dns.RcodeSuccess, 1},
		{name("_x._quic/1.unnamed.odd.svc"), dns.TypeSRV, dns.RcodeNameError, 0},
		{name("_s._sctp.unnamed.odd.svc"), dns.TypeSRV, dns.RcodeSuccess, 1},
		{name("badip.odd.svc"), dns.TypeA, dns.RcodeSuccess, 1},
		{name(long + "." + long + ".svc"), dns.TypeA, dns.RcodeSuccess, 1},                // 200 octets: fits
		{name(long + "." + long + "." + long + ".svc"), dns.TypeA, dns.RcodeNameError, 0}, // would not fit
	} {
		_, m := ask(k, test.Case{Qname: tc.qname, Qtype: tc.qtype})
		if m == nil || m.Rcode != tc.rcode || len(m.Answer) != tc.n {
			t.Errorf("%s %s: want %s with %d answers, got %v", tc.qname, dns.TypeToString[tc.qtype], dns.RcodeToString[tc.rcode], tc.n, m)
			continue
		}
		if _, err := m.Pack(); err != nil {
			t.Errorf("%s: answer does not pack: %v", tc.qname, err)
		}
	}
	// The headless service's SRV target would exceed 255 octets: no SRV
	// rather than a record that cannot be sent.
	_, m := ask(k, test.Case{Qname: name("_p._tcp." + long + "." + long + ".svc"), Qtype: dns.TypeSRV})
	if m == nil || len(m.Answer) != 0 {
		t.Errorf("SRV with an over-long target: want none, got %v", m)
	}
}
