package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// TestDifferentialNumberlessPortsMixedMatchStock: a headless service whose
// slices mix a numbered and a numberless port of one name, a numberless
// UDP port, an unnamed numberless port and an address in two slices: every
// name below it answers as stock's does, over UDP and TCP.
func TestDifferentialNumberlessPortsMixedMatchStock(t *testing.T) {
	suite(t)
	t.Parallel()
	const ns = "e2e-numberless"
	namespace(t, ns)
	createService(t, headlessService(ns, "mix", "http", 80))
	createSlice(t, slice(ns, "mix-a", "mix", "http", 80, ep{ip: "10.49.0.1", hostname: "web-0"}, ep{ip: "10.49.0.4"}))
	b := slice(ns, "mix-b", "mix", "http", 0, ep{ip: "10.49.0.2", hostname: "web-1"}, ep{ip: "10.49.0.1", hostname: "web-0"})
	b.Ports[0].Port = nil
	createSlice(t, b)
	c := slice(ns, "mix-c", "mix", "dns", 0, ep{ip: "10.49.0.3", hostname: "web-2"})
	c.Ports = []discoveryv1.EndpointPort{
		{Name: ptr.To("dns"), Protocol: ptr.To(corev1.ProtocolUDP)},
		{Name: ptr.To(""), Protocol: ptr.To(corev1.ProtocolTCP)},
		{Name: ptr.To("sig"), Protocol: ptr.To(corev1.ProtocolSCTP)},
	}
	createSlice(t, c)
	kubesvc, stock := differentialPair(t)
	svc := "mix." + ns + ".svc.cluster.local."
	for _, s := range []string{kubesvc.Ports.DNSAddr(), stock.Ports.DNSAddr()} {
		eventually(t, 30*time.Second, s+" has the slices", answers(s, "web-2."+svc, dns.TypeA, want{anyAnswer: true}))
	}
	// The names and types whose answers README does not list as differing
	// from stock's on purpose (ANY, SRV at an endpoint's name, A at an SRV
	// name, the SRV names' _<proto> parents).
	ask := map[string][]uint16{svc: {dns.TypeSRV, dns.TypeA, dns.TypeAAAA, dns.TypeTXT}}
	for _, l := range []string{"web-0", "web-1", "web-2", "10-49-0-4"} {
		ask[l+"."+svc] = []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT}
	}
	for _, p := range []string{"_http._tcp", "_dns._udp", "_dns._tcp", "_sig._sctp", "_http._udp", "_sig._tcp"} {
		ask[p+"."+svc] = []uint16{dns.TypeSRV}
	}
	for name, qtypes := range ask {
		for _, qtype := range qtypes {
			sameAsStock(t, kubesvc, stock, name, qtype)
		}
	}
}

// TestNumberlessPortsAreNoRecordOfATransfer: a zone transfer holds no SRV
// record for a port without a number (stock's holds one of port 65535, its
// -1 cast to a port, which no query of it answers) and otherwise the same
// records as stock's.
func TestNumberlessPortsAreNoRecordOfATransfer(t *testing.T) {
	suite(t)
	t.Parallel()
	const ns = "e2e-numberless-xfr"
	namespace(t, ns)
	createService(t, headlessService(ns, "nl", "http", 80))
	createSlice(t, slice(ns, "nl-a", "nl", "http", 80, ep{ip: "10.49.1.1", hostname: "web-0"}))
	b := slice(ns, "nl-b", "nl", "metrics", 0, ep{ip: "10.49.1.2", hostname: "web-1"})
	b.Ports[0].Port = nil
	createSlice(t, b)
	kubesvc, stock := differentialPair(t, transferOptions...)
	svc := "nl." + ns + ".svc.cluster.local."
	for _, s := range []string{kubesvc.Ports.DNSAddr(), stock.Ports.DNSAddr()} {
		eventually(t, 30*time.Second, s+" has the slices", answers(s, "web-1."+svc, dns.TypeA, want{anyAnswer: true}))
	}
	domain := ns + ".svc.cluster.local."
	got := map[string][]string{}
	for name, s := range map[string]string{"kubesvc": kubesvc.Ports.DNSAddr(), "stock": stock.Ports.DNSAddr()} {
		_, body := framed(t, name+" AXFR", zoneTransfer(t, s, "cluster.local.", 0))
		got[name] = under(domain, body)
	}
	for _, rr := range got["kubesvc"] {
		if strings.Contains(rr, "\tSRV\t") && (strings.Contains(rr, " 65535 ") || strings.Contains(rr, " 0 web")) {
			t.Errorf("kubesvc's AXFR holds %q, an SRV record of a port without a number", rr)
		}
	}
	// Stock's headless own-name SRV records are left out of its transfer,
	// and it sends port -1 as 65535; the rest must agree.
	keep := func(rrs []string) []string {
		return slices.DeleteFunc(slices.Clone(rrs), func(rr string) bool {
			return strings.HasPrefix(rr, svc+"\t") && strings.Contains(rr, "\tSRV\t") || strings.Contains(rr, " 65535 ")
		})
	}
	if k, s := keep(got["kubesvc"]), keep(got["stock"]); !slices.Equal(k, s) {
		t.Errorf("AXFR of %s differs from stock's:\n kubesvc %q\n stock   %q", domain, k, s)
	}
}
