package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// externalBlock is a k8s_external block in stock's syntax for the server
// block of differentialPair: a forward zone and a reverse zone of the
// external IPs (narrower than the cluster's in-addr.arpa).
const externalBlock = `server:k8s_external example.com 100.51.198.in-addr.arpa {
        headless
        ttl 60
    }`

// setLoadBalancer writes the load balancer status of a Service, as a cloud
// controller does: IPs and host names.
func setLoadBalancer(t *testing.T, s *corev1.Service, addrs ...string) *corev1.Service {
	t.Helper()
	s.Status.LoadBalancer.Ingress = nil
	for _, a := range addrs {
		if strings.Trim(a, "0123456789.:abcdef") == "" && strings.ContainsAny(a, ".:") && !strings.Contains(a, "example") {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: a})
		} else {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{Hostname: a})
		}
	}
	out, err := kube.Client.CoreV1().Services(s.Namespace).UpdateStatus(ctxFor(t, 10*time.Second), s, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status of %s/%s: %v", s.Namespace, s.Name, err)
	}
	return out
}

// loadBalancerService is a LoadBalancer service with named TCP ports.
func loadBalancerService(ns, name string, ports ...int32) *corev1.Service {
	s := clusterIPService(ns, name, "http", 80)
	s.Spec.Type = corev1.ServiceTypeLoadBalancer
	for i, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%d", i), Port: p, Protocol: corev1.ProtocolTCP})
	}
	return s
}

// externalObjects creates the objects of the external differential tests
// in ns: load balancers with an IP (and an external IP), with a host name
// the upstream knows, headless services with and without external IPs, a
// port-less one, and a ClusterIP service without any external address.
func externalObjects(t *testing.T, ns string) {
	t.Helper()
	namespace(t, ns)
	web := loadBalancerService(ns, "web", 443)
	web.Spec.ExternalIPs = []string{"198.51.100.1"}
	setLoadBalancer(t, createService(t, web), "198.51.100.52")
	setLoadBalancer(t, createService(t, loadBalancerService(ns, "named")), "blog.mosuke.tech")
	hlext := headlessService(ns, "hlext", "http", 80)
	hlext.Spec.ExternalIPs = []string{"198.51.100.2", "2001:db8::2"}
	createService(t, hlext)
	createService(t, headlessService(ns, "hl", "http", 80))
	createSlice(t, slice(ns, "hl-a", "hl", "http", 80,
		ep{ip: "10.60.0.1", hostname: "web-0"}, ep{ip: "10.60.0.2"}, ep{ip: "10.60.0.3", notReady: true}))
	noPorts := headlessService(ns, "noports", "", 0)
	noPorts.Spec.Ports = nil
	noPorts.Spec.Selector = nil
	noPorts.Spec.ExternalIPs = []string{"198.51.100.3"}
	createService(t, noPorts)
	createService(t, clusterIPService(ns, "internal", "http", 80))
	createService(t, externalNameService(ns, "ext", "blog.mosuke.tech"))
}

// Stock's k8s_external syntax and answers: the same objects and the same
// Corefile to kubesvc + k8s_external and to stock's kubernetes +
// k8s_external, the same questions over UDP and TCP, the same replies.
func TestDifferentialExternalMatchesStock(t *testing.T) {
	suite(t)
	const ns = "e2e-ext"
	externalObjects(t, ns)
	kubesvc, stock := differentialPair(t, externalBlock)
	for _, s := range []*coredns.Server{kubesvc, stock} {
		eventually(t, 30*time.Second, "the server has the objects", answers(s.Ports.DNSAddr(), "hl.e2e-ext.example.com.", dns.TypeA,
			want{anyAnswer: true, check: func(r *dns.Msg) error {
				if len(r.Answer) != 2 {
					return fmt.Errorf("%d records, want 2", len(r.Answer))
				}
				return nil
			}}))
		eventually(t, 30*time.Second, "the server has the load balancer", answers(s.Ports.DNSAddr(), "web.e2e-ext.example.com.", dns.TypeA,
			want{anyAnswer: true, check: func(r *dns.Msg) error {
				if len(r.Answer) != 2 {
					return fmt.Errorf("%d records, want 2", len(r.Answer))
				}
				return nil
			}}))
	}
	for _, q := range []question{
		{"web.e2e-ext.example.com.", dns.TypeA},
		{"Web.E2E-Ext.Example.COM.", dns.TypeA},
		{"web.e2e-ext.example.com.", dns.TypeAAAA},
		{"web.e2e-ext.example.com.", dns.TypeTXT},
		{"web.e2e-ext.example.com.", dns.TypeSRV},
		{"_http._tcp.web.e2e-ext.example.com.", dns.TypeSRV},
		{"_p0._tcp.web.e2e-ext.example.com.", dns.TypeSRV},
		{"_http._udp.web.e2e-ext.example.com.", dns.TypeSRV},
		{"_http._tcp.web.e2e-ext.example.com.", dns.TypeA},
		{"named.e2e-ext.example.com.", dns.TypeA},
		{"named.e2e-ext.example.com.", dns.TypeAAAA},
		{"named.e2e-ext.example.com.", dns.TypeSRV},
		{"hlext.e2e-ext.example.com.", dns.TypeA},
		{"hlext.e2e-ext.example.com.", dns.TypeAAAA},
		{"hlext.e2e-ext.example.com.", dns.TypeSRV},
		{"hl.e2e-ext.example.com.", dns.TypeA},
		{"hl.e2e-ext.example.com.", dns.TypeSRV},
		{"_http._tcp.hl.e2e-ext.example.com.", dns.TypeSRV},
		{"web-0.hl.e2e-ext.example.com.", dns.TypeA},
		{"10-60-0-2.hl.e2e-ext.example.com.", dns.TypeA},
		{"10-60-0-3.hl.e2e-ext.example.com.", dns.TypeA},
		{"nope.hl.e2e-ext.example.com.", dns.TypeA},
		{"noports.e2e-ext.example.com.", dns.TypeA},
		{"noports.e2e-ext.example.com.", dns.TypeSRV},
		{"internal.e2e-ext.example.com.", dns.TypeA},
		{"ext.e2e-ext.example.com.", dns.TypeA},
		{"nope.e2e-ext.example.com.", dns.TypeA},
		{"e2e-ext.example.com.", dns.TypeA},
		{"a.b.c.d.e.example.com.", dns.TypeA},
		{"example.com.", dns.TypeSOA},
		{"Example.COM.", dns.TypeSOA},
		{"example.com.", dns.TypeNS},
		{"example.com.", dns.TypeA},
		{"dns.example.com.", dns.TypeA},
		{"ns1.dns.example.com.", dns.TypeA},
		{"ns2.dns.example.com.", dns.TypeA},
		{"1.100.51.198.in-addr.arpa.", dns.TypePTR},
		{"52.100.51.198.in-addr.arpa.", dns.TypePTR},
		{"9.100.51.198.in-addr.arpa.", dns.TypePTR},
		{"web.e2e-ext.svc.cluster.local.", dns.TypeA}, // the cluster zone is kubesvc's still
	} {
		sameAsStock(t, kubesvc, stock, q.name, q.qtype)
	}
}

// A zone transfer of the external zone holds the records stock's holds
// (as a set: stock sends some records more than once), framed by the SOA.
// SRV weights are left out: stock's transfer weighs each record as if it
// were alone (100), its queries divide 100 among the targets, and kubesvc
// transfers what its queries answer.
func TestDifferentialExternalTransferMatchesStock(t *testing.T) {
	suite(t)
	const ns = "e2e-ext-xfr"
	namespace(t, ns)
	web := clusterIPService(ns, "web", "http", 80)
	web.Spec.Type = corev1.ServiceTypeLoadBalancer
	web.Spec.ExternalIPs = []string{"198.51.100.11"}
	setLoadBalancer(t, createService(t, web), "198.51.100.12")
	hl := headlessService(ns, "hl", "http", 80)
	hl.Spec.ExternalIPs = []string{"198.51.100.13"}
	createService(t, hl)
	kubesvc, stock := differentialPair(t, externalBlock, "server:transfer {\n        to *\n    }")
	sets := map[string][]string{}
	for _, x := range []struct {
		name string
		s    *coredns.Server
	}{{"kubesvc", kubesvc}, {"stock", stock}} {
		eventually(t, 30*time.Second, x.name+" has the load balancer", answers(x.s.Ports.DNSAddr(), "web.e2e-ext-xfr.example.com.", dns.TypeA,
			want{anyAnswer: true, check: func(r *dns.Msg) error {
				if len(r.Answer) != 2 {
					return fmt.Errorf("%d records, want 2", len(r.Answer))
				}
				return nil
			}}))
		_, body := framed(t, x.name+" AXFR", zoneTransfer(t, x.s.Ports.DNSAddr(), "example.com.", 0))
		for _, rr := range body {
			if srv, ok := rr.(*dns.SRV); ok {
				srv.Weight = 0
			}
		}
		sets[x.name] = under(ns+".example.com.", body)
	}
	if !slices.Equal(sets["kubesvc"], sets["stock"]) {
		t.Errorf("the records of %s in the transfers differ:\n  kubesvc %q\n  stock   %q", ns, sets["kubesvc"], sets["stock"])
	}
	if len(sets["kubesvc"]) == 0 {
		t.Errorf("no records of %s in the transfer", ns)
	}
}

// fallthrough and apex in stock's syntax: the names k8s_external does not
// have go on through the plugin chain (here kubesvc, then forward to the
// local upstream), its apex names are under the label apex gives, as
// stock's.
func TestDifferentialExternalFallthroughAndApexMatchStock(t *testing.T) {
	suite(t)
	const ns = "e2e-ext-fall"
	namespace(t, ns)
	web := clusterIPService(ns, "web", "http", 80)
	web.Spec.ExternalIPs = []string{"198.51.100.21"}
	createService(t, web)
	kubesvc, stock := differentialPair(t, `server:k8s_external example.com {
        apex ns
        ttl 0
        fallthrough
    }`)
	for _, s := range []*coredns.Server{kubesvc, stock} {
		eventually(t, 30*time.Second, "the server has the service", answers(s.Ports.DNSAddr(), "web.e2e-ext-fall.example.com.", dns.TypeA,
			want{answer: []string{"web.e2e-ext-fall.example.com. 0 IN A 198.51.100.21"}}))
	}
	for _, q := range []question{
		{"web.e2e-ext-fall.example.com.", dns.TypeA},
		{"web.e2e-ext-fall.example.com.", dns.TypeSRV},
		{"nope.e2e-ext-fall.example.com.", dns.TypeA},
		{"x.y.z.w.v.example.com.", dns.TypeA},
		{"example.com.", dns.TypeSOA},
		{"example.com.", dns.TypeNS},
		{"ns.example.com.", dns.TypeA},
		{"ns1.ns.example.com.", dns.TypeA},
		{"ns2.ns.example.com.", dns.TypeA},
		{"dns.example.com.", dns.TypeA},
	} {
		sameAsStock(t, kubesvc, stock, q.name, q.qtype)
	}
}

// Without RBAC on Ingresses, ingress cannot work: kubesvc never publishes
// (SERVFAIL in both zones, never a wrong NXDOMAIN) and says that it may not
// list ingresses. With the least-privilege user of the other tests, whose
// blocks without ingress sync, this shows Ingresses are asked for only with
// the option.
func TestExternalIngressWithoutRBACServfails(t *testing.T) {
	suite(t)
	s := ownCoreDNS(t, "kubesvc", sharedProxy.URL(), func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubesvc", p, kc, "server:k8s_external example.com {\n        ingress\n    }")
	})
	if err := s.WaitServing(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the log names the forbidden ingresses", func() (bool, string) {
		return strings.Contains(s.Log(), "ingresses") && strings.Contains(strings.ToLower(s.Log()), "forbidden"), tail(s.Log(), 2000)
	})
	for _, proto := range protos {
		for _, name := range []string{"kubernetes.default.svc.cluster.local.", "nope.default.example.com."} {
			if r := query(t, s.Ports.DNSAddr(), proto, name, dns.TypeA); r.Rcode != dns.RcodeServerFailure {
				t.Errorf("%s %s: %s, want SERVFAIL until ingresses can be listed\n%v", proto, name, dns.RcodeToString[r.Rcode], r)
			}
		}
	}
}
