package e2e

import (
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
)

// With noendpoints, kubesvc answers as stock does: ClusterIP and
// ExternalName services as usual, headless services and their endpoints'
// names and addresses not at all (NXDOMAIN), reverse names of endpoints not
// at all. kubesvc runs as the least-privilege user, so the answers also show
// that no Namespace is asked for.
func TestDifferentialNoEndpointsMatchesStock(t *testing.T) {
	suite(t)
	const ns = "e2e-noep"
	namespace(t, ns)
	svc := createService(t, clusterIPService(ns, "svc1", "http", 80))
	createService(t, headlessService(ns, "hl", "http", 8080))
	createSlice(t, slice(ns, "hl-a", "hl", "http", 8080, ep{ip: "10.41.0.1", hostname: "web-0"}, ep{ip: "10.41.0.2"}))
	notReady := headlessService(ns, "hl-pnr", "http", 8080)
	notReady.Spec.PublishNotReadyAddresses = true
	createService(t, notReady)
	createSlice(t, slice(ns, "hl-pnr-a", "hl-pnr", "http", 8080, ep{ip: "10.41.0.3", notReady: true}))
	createService(t, externalNameService(ns, "ext", "blog.mosuke.tech"))
	// The ClusterIP service's own slice: with noendpoints it is not read.
	createSlice(t, slice(ns, "svc1-a", "svc1", "http", 80, ep{ip: "10.41.0.4"}))
	kubesvc, stock := differentialPair(t, "noendpoints")

	for name, s := range map[string]*coredns.Server{"kubesvc": kubesvc, "stock": stock} {
		eventually(t, 30*time.Second, name+" has the objects", answers(s.Ports.DNSAddr(), "ext.e2e-noep.svc.cluster.local.", dns.TypeCNAME, want{anyAnswer: true}))
	}
	for _, q := range []question{
		{"svc1.e2e-noep.svc.cluster.local.", dns.TypeA},
		{"_http._tcp.svc1.e2e-noep.svc.cluster.local.", dns.TypeSRV},
		{reverse(t, svc.Spec.ClusterIP), dns.TypePTR},
		{"hl.e2e-noep.svc.cluster.local.", dns.TypeA},
		{"hl.e2e-noep.svc.cluster.local.", dns.TypeSRV},
		{"_http._tcp.hl.e2e-noep.svc.cluster.local.", dns.TypeSRV},
		{"web-0.hl.e2e-noep.svc.cluster.local.", dns.TypeA},
		{"10-41-0-2.hl.e2e-noep.svc.cluster.local.", dns.TypeA},
		{"hl-pnr.e2e-noep.svc.cluster.local.", dns.TypeA},
		{reverse(t, "10.41.0.1"), dns.TypePTR},
		{reverse(t, "10.41.0.4"), dns.TypePTR},
		{"ext.e2e-noep.svc.cluster.local.", dns.TypeCNAME},
		{"e2e-noep.svc.cluster.local.", dns.TypeA},
		{"10-1-2-3.e2e-noep.pod.cluster.local.", dns.TypeA},
	} {
		sameAsStock(t, kubesvc, stock, q.name, q.qtype)
	}
	// Not merely the same as stock: the headless names are gone.
	for _, proto := range protos {
		if r := query(t, kubesvc.Ports.DNSAddr(), proto, "web-0.hl.e2e-noep.svc.cluster.local.", dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s: web-0.hl with noendpoints: %s, want NXDOMAIN\n%v", proto, dns.RcodeToString[r.Rcode], r)
		}
	}
}
