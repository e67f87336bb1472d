package e2e

import (
	"testing"

	"github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// zonal (stock CoreDNS 1.15): a headless service's zone-scoped names,
// <zone>.pin._zone.<svc>... and <zone>.prefer._zone.<svc>..., answer the
// endpoints whose EndpointSlice zone is the one named (prefer: all of them
// when none is), as stock answers them.
func TestDifferentialZonal(t *testing.T) {
	suite(t)
	const ns = "e2e-zonal"
	namespace(t, ns)
	createService(t, headlessService(ns, "db", "pg", 5432))
	sl := slice(ns, "db-a", "db", "pg", 5432,
		ep{ip: "10.44.0.1", hostname: "db-0"}, ep{ip: "10.44.0.2", hostname: "db-1"},
		ep{ip: "10.44.0.3"}, ep{ip: "10.44.0.4"}, ep{ip: "10.44.0.5", notReady: true})
	for i, z := range []string{"us-west-2a", "US-West-2B", "corp.example.com", "", "us-west-2a"} {
		if z != "" {
			sl.Endpoints[i].Zone = ptr.To(z)
		}
	}
	createSlice(t, sl)
	b := slice(ns, "db-b", "db", "pg", 5432, ep{ip: "10.44.1.1", hostname: "db-9"})
	b.Endpoints[0].Zone = ptr.To("us-west-2a")
	b.Endpoints = append(b.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.44.1.2"}, Zone: ptr.To("eu-1")}) // readiness unknown: ready
	createSlice(t, b)
	createService(t, clusterIPService(ns, "vip", "http", 80))
	createSlice(t, slice(ns, "vip-a", "vip", "http", 80, ep{ip: "10.44.2.1"}))
	createService(t, externalNameService(ns, "ext", "example.com"))
	createService(t, headlessService(ns, "idle", "pg", 5432))
	createSlice(t, slice(ns, "idle-a", "idle", "pg", 5432, ep{ip: "10.44.3.1", notReady: true}))
	kubesvc, stock := differentialPair(t, "zonal")
	const base = "db." + ns + ".svc.cluster.local."
	bothAnswer(t, kubesvc, stock, "_pg._tcp."+base, dns.TypeSRV, dns.RcodeSuccess, 6)

	var qs []question
	for _, z := range []string{"us-west-2a", "Us-West-2b", "corp.example.com", "example.com", "eu-1", "mars-1", "*"} {
		for _, dir := range []string{"pin", "prefer", "Prefer"} {
			name := z + "." + dir + "._zone." + base
			qs = append(qs, question{name, dns.TypeA}, question{name, dns.TypeAAAA}, question{name, dns.TypeSRV}, question{name, dns.TypeTXT})
		}
	}
	qs = append(qs,
		question{"us-west-2a.near._zone." + base, dns.TypeA},
		question{"us-west-2a.pin._zone.vip." + ns + ".svc.cluster.local.", dns.TypeA},
		question{"us-west-2a.prefer._zone.ext." + ns + ".svc.cluster.local.", dns.TypeA},
		question{"us-west-2a.prefer._zone.nope." + ns + ".svc.cluster.local.", dns.TypeA},
		question{base, dns.TypeA}, question{base, dns.TypeSRV}, question{"_pg._tcp." + base, dns.TypeSRV},
	)
	sameAnswers(t, kubesvc, stock, qs)

	// Where kubesvc answers otherwise, by RFC 8020 (a name exists if a
	// name below it does; NXDOMAIN says none does): the parents of
	// zone-scoped names exist (stock: NXDOMAIN), and a headless service
	// without a ready endpoint is NXDOMAIN with every name below it (spec
	// 2.4.1), its zone-scoped names too (stock: NODATA under an NXDOMAIN).
	idle := "us-west-2a.pin._zone.idle." + ns + ".svc.cluster.local."
	for _, proto := range protos {
		for _, name := range []string{"pin._zone." + base, "_zone." + base} {
			r := query(t, kubesvc.Ports.DNSAddr(), proto, name, dns.TypeA)
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
				t.Errorf("%s over %s: want NODATA, got\n%v", name, proto, r)
			}
		}
		if r := query(t, kubesvc.Ports.DNSAddr(), proto, idle, dns.TypeA); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s over %s: want NXDOMAIN, got\n%v", idle, proto, r)
		}
		for _, name := range []string{"pin._zone." + base, idle} {
			r := query(t, stock.Ports.DNSAddr(), proto, name, dns.TypeA)
			t.Logf("stock, %s A over %s: %s %v", name, proto, dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
}
