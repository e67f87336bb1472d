package kubesvc

import (
	"context"
	"strings"
	"testing"
	"unsafe"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// zoned is an endpoint in a topology zone.
func zoned(addr, hostname, zone string) discovery.Endpoint {
	e := ep(addr, hostname, true)
	e.Zone = &zone
	return e
}

func zonalSeed() []runtime.Object {
	web := []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}
	return []runtime.Object{
		headlessSvc("default", "db", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("default", "db-a", "db", discovery.AddressTypeIPv4, web,
			zoned("10.0.7.1", "db-0", "us-west-2a"),
			zoned("10.0.7.2", "db-1", "US-West-2b"), // zones compare lower-cased
			zoned("10.0.7.3", "", "corp.example.com"),
			zoned("10.0.7.4", "", "not a zone name"), // in no zone a question can name
			ep("10.0.7.5", "db-4", true)),            // no zone
		headlessSvc("default", "zidle", svcPort("web", corev1.ProtocolTCP, 80)),
		clusterIPSvc("default", "vip", []string{"10.96.0.7"}, svcPort("web", corev1.ProtocolTCP, 80)),
		slice("default", "vip-a", "vip", discovery.AddressTypeIPv4, web, zoned("10.0.8.1", "", "us-west-2a")),
	}
}

// zonal: a headless service's zone-scoped names answer its endpoints in
// the zone named (pin), or all of them when the zone has none (prefer), as
// stock CoreDNS 1.15 answers them.
func TestZonalNames(t *testing.T) {
	const base = "db.default.svc.cluster.local."
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local {\nzonal\nttl 30\n}", zonalSeed()...)
	zsoa := []dns.RR{soa("cluster.local.")}
	all := []dns.RR{
		test.A("x. 30 IN A 10.0.7.1"), test.A("x. 30 IN A 10.0.7.2"), test.A("x. 30 IN A 10.0.7.3"),
		test.A("x. 30 IN A 10.0.7.4"), test.A("x. 30 IN A 10.0.7.5")}
	at := func(name string, rrs []dns.RR) []dns.RR {
		var out []dns.RR
		for _, rr := range rrs {
			cp := dns.Copy(rr)
			cp.Header().Name = name
			out = append(out, cp)
		}
		return out
	}
	pinA, preferX := "us-west-2a.pin._zone."+base, "mars-1.prefer._zone."+base
	runCases(t, k, []test.Case{
		{Qname: pinA, Qtype: dns.TypeA, Answer: []dns.RR{test.A(pinA + " 30 IN A 10.0.7.1")}},
		{Qname: "US-West-2A.Pin._zone." + base, Qtype: dns.TypeA, Answer: []dns.RR{test.A("US-West-2A.Pin._zone." + base + " 30 IN A 10.0.7.1")}},
		{Qname: pinA, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV(pinA + " 30 IN SRV 0 100 80 db-0." + base)},
			Extra:  []dns.RR{test.A("db-0." + base + " 30 IN A 10.0.7.1")}},
		{Qname: pinA, Qtype: dns.TypeTXT, Ns: zsoa},
		{Qname: "us-west-2b.prefer._zone." + base, Qtype: dns.TypeA, Answer: []dns.RR{test.A("us-west-2b.prefer._zone." + base + " 30 IN A 10.0.7.2")}},
		{Qname: "corp.example.com.pin._zone." + base, Qtype: dns.TypeA, Answer: []dns.RR{test.A("corp.example.com.pin._zone." + base + " 30 IN A 10.0.7.3")}},
		// A zone without endpoints of the service: pinned, nothing (NODATA);
		// preferred, every endpoint, under the name asked.
		{Qname: "mars-1.pin._zone." + base, Qtype: dns.TypeA, Ns: zsoa},
		{Qname: "example.com.pin._zone." + base, Qtype: dns.TypeA, Ns: zsoa},
		{Qname: preferX, Qtype: dns.TypeA, Answer: at(preferX, all)},
		{Qname: "Mars-1.Prefer._zone." + base, Qtype: dns.TypeA, Answer: at("Mars-1.Prefer._zone."+base, all)},
		{Qname: preferX, Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV(preferX + " 30 IN SRV 0 20 80 10-0-7-3." + base),
				test.SRV(preferX + " 30 IN SRV 0 20 80 10-0-7-4." + base),
				test.SRV(preferX + " 30 IN SRV 0 20 80 db-0." + base),
				test.SRV(preferX + " 30 IN SRV 0 20 80 db-1." + base),
				test.SRV(preferX + " 30 IN SRV 0 20 80 db-4." + base)},
			Extra: []dns.RR{
				test.A("10-0-7-3." + base + " 30 IN A 10.0.7.3"), test.A("10-0-7-4." + base + " 30 IN A 10.0.7.4"),
				test.A("db-0." + base + " 30 IN A 10.0.7.1"), test.A("db-1." + base + " 30 IN A 10.0.7.2"),
				test.A("db-4." + base + " 30 IN A 10.0.7.5")}},
		{Qname: preferX, Qtype: dns.TypeTXT, Ns: zsoa},
		// The parents of zone-scoped names exist (RFC 8020).
		{Qname: "pin._zone." + base, Qtype: dns.TypeA, Ns: zsoa},
		{Qname: "_zone." + base, Qtype: dns.TypeA, Ns: zsoa},
		// Unknown directives, services that are not headless or have no
		// endpoint, and services that do not exist have no such names.
		{Qname: "us-west-2a.near._zone." + base, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "us-west-2a.pin._zone.vip.default.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "us-west-2a.pin._zone.zidle.default.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "us-west-2a.prefer._zone.nope.default.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: "pin._zone.nope.default.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
	})

	// Without the option none of them exists.
	k, _ = newTestKubeSvc(t, "kubesvc cluster.local {\nttl 30\n}", zonalSeed()...)
	runCases(t, k, []test.Case{
		{Qname: pinA, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
		{Qname: preferX, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: zsoa},
	})
}

// Zone transfers leave the zone-scoped names out, as stock's do: they are
// answered, not records of the zone.
func TestZonalNamesNotTransferred(t *testing.T) {
	k, _ := newTestKubeSvc(t, "kubesvc cluster.local {\nzonal\n}", zonalSeed()...)
	rrs := checkFrame(t, k, "cluster.local.", xfr(t, k, "cluster.local.", 0))
	sawService := false
	for _, rr := range rrs {
		if strings.Contains(rr.Header().Name, "_zone.") {
			t.Errorf("transferred a zone-scoped name: %v", rr)
		}
		sawService = sawService || rr.Header().Name == "db.default.svc.cluster.local."
	}
	if !sawService {
		t.Errorf("the transfer lacks the headless service's records: %v", rrs)
	}
}

// The slice transform keeps an endpoint's zone only with zonal, in what
// was the endpoint's padding: without the option a slice costs what it did.
func TestZoneKeptOnlyWithZonal(t *testing.T) {
	sl := slice("default", "db-a", "db", discovery.AddressTypeIPv4, nil, zoned("10.0.7.1", "", "Us-West-2a"))
	for _, keep := range []sliceKeeps{{}, {zones: true}} {
		out, _ := endpointSliceOf(sl.DeepCopy(), keep)
		got := out.(*endpointSlice).endpoints[0].zone
		if (got != 0) != keep.zones || keep.zones && zoneName(got) != "us-west-2a" {
			t.Errorf("keep %+v: zone id %d (%q)", keep, got, zoneName(got))
		}
	}
	if size := unsafe.Sizeof(endpoint{}); size != 32 {
		t.Errorf("an endpoint takes %d bytes, want 32", size)
	}
}

// The zone-scoped names are answered from the headless record, whose
// members carry the zones their address is listed in: an address listed in
// two zones (by two slices) answers in both, and a change of an endpoint's
// zone alone is a change of the record (the answers follow it).
func TestZonalNamesFollowTheRecord(t *testing.T) {
	const base = "db.default.svc.cluster.local."
	web := []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}
	k, client := newTestKubeSvc(t, "kubesvc cluster.local {\nzonal\nttl 30\n}",
		headlessSvc("default", "db", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("default", "db-a", "db", discovery.AddressTypeIPv4, web,
			zoned("10.0.7.1", "db-0", "zone-a"), zoned("10.0.7.2", "db-1", "zone-a")),
		slice("default", "db-b", "db", discovery.AddressTypeIPv4, web, zoned("10.0.7.1", "db-0", "zone-b")))
	zsoa := []dns.RR{soa("cluster.local.")}
	pinA, pinB, pinC := "zone-a.pin._zone."+base, "zone-b.pin._zone."+base, "zone-c.pin._zone."+base
	runCases(t, k, []test.Case{
		{Qname: pinA, Qtype: dns.TypeA, Answer: []dns.RR{test.A(pinA + " 30 IN A 10.0.7.1"), test.A(pinA + " 30 IN A 10.0.7.2")}},
		{Qname: pinB, Qtype: dns.TypeA, Answer: []dns.RR{test.A(pinB + " 30 IN A 10.0.7.1")}},
		{Qname: pinB, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV(pinB + " 30 IN SRV 0 100 80 db-0." + base)},
			Extra:  []dns.RR{test.A("db-0." + base + " 30 IN A 10.0.7.1")}},
		{Qname: pinC, Qtype: dns.TypeA, Ns: zsoa},
	})

	// db-1 moves to zone-c: only its slice's zone field changes, which
	// changes answers, and so the SOA serial.
	serial := k.ix.serial.Load()
	moved := slice("default", "db-a", "db", discovery.AddressTypeIPv4, web,
		zoned("10.0.7.1", "db-0", "zone-a"), zoned("10.0.7.2", "db-1", "zone-c"))
	moved.ResourceVersion = "2"
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(context.Background(), moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "db-1 in zone-c", func() bool {
		rcode, m := ask(k, test.Case{Qname: pinC, Qtype: dns.TypeA})
		return rcode == dns.RcodeSuccess && len(m.Answer) == 1
	})
	if now := k.ix.serial.Load(); now == serial {
		t.Errorf("the SOA serial stayed %d when an endpoint changed zones", now)
	}
	runCases(t, k, []test.Case{
		{Qname: pinA, Qtype: dns.TypeA, Answer: []dns.RR{test.A(pinA + " 30 IN A 10.0.7.1")}},
		{Qname: pinC, Qtype: dns.TypeA, Answer: []dns.RR{test.A(pinC + " 30 IN A 10.0.7.2")}},
	})
}
