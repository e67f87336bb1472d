package e2e

import (
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// A headless service whose slices differ in ports (one has none: Pods
// without the service's named target port) is answered as stock answers
// it, whichever of its addresses sorts first. The SRV records of its own
// name weigh as stock's do: stock counts an endpoint of a portless slice as
// one record (the port -1 it gives such endpoints), which it leaves out of
// the answer but not out of the weights.
func TestHeadlessSlicesDifferingInPortsMatchStock(t *testing.T) {
	suite(t)
	const ns = "e2e-hs-ports"
	namespace(t, ns)
	kubesvc, stock := differentialPair(t)
	createService(t, headlessService(ns, "mixed", "http", 80))
	portless := slice(ns, "mixed-a", "mixed", "http", 80, ep{ip: "10.47.0.1", hostname: "web-0"}, ep{ip: "10.47.0.3"})
	portless.Ports = nil
	createSlice(t, portless)
	createSlice(t, slice(ns, "mixed-b", "mixed", "http", 80, ep{ip: "10.47.0.2", hostname: "web-1"}, ep{ip: "10.47.0.4"}))
	name := "mixed." + ns + ".svc.cluster.local."
	bothAnswer(t, kubesvc, stock, name, dns.TypeA, dns.RcodeSuccess, 4) // both slices' endpoints
	sameAnswers(t, kubesvc, stock, []question{
		{name, dns.TypeA},
		{name, dns.TypeSRV},
		{"_http._tcp." + name, dns.TypeSRV},
		{"web-0." + name, dns.TypeA},
		{"web-1." + name, dns.TypeA},
		{"10-47-0-3." + name, dns.TypeA},
		{reverse(t, "10.47.0.1"), dns.TypePTR},
		{reverse(t, "10.47.0.2"), dns.TypePTR},
	})
}

// A hostname that slices with other ports give (web-0 at 10.47.1.1 serving
// dns/53 UDP, at 10.47.1.2 serving http/80, at 10.47.1.3 without ports):
// an SRV answer's additional records are the addresses behind its records,
// as stock's are, not every address of the target's name.
func TestHeadlessSharedHostnameSRVAdditionalMatchStock(t *testing.T) {
	suite(t)
	const ns = "e2e-hs-shared-host"
	namespace(t, ns)
	kubesvc, stock := differentialPair(t)
	createService(t, headlessService(ns, "shared", "dns", 53))
	dnsPort := slice(ns, "shared-a", "shared", "dns", 53, ep{ip: "10.47.1.1", hostname: "web-0"})
	dnsPort.Ports[0].Protocol = ptr.To(corev1.ProtocolUDP)
	createSlice(t, dnsPort)
	createSlice(t, slice(ns, "shared-b", "shared", "http", 80, ep{ip: "10.47.1.2", hostname: "web-0"}))
	portless := slice(ns, "shared-c", "shared", "http", 80, ep{ip: "10.47.1.3", hostname: "web-0"})
	portless.Ports = nil
	createSlice(t, portless)
	name := "shared." + ns + ".svc.cluster.local."
	bothAnswer(t, kubesvc, stock, name, dns.TypeA, dns.RcodeSuccess, 3) // the three slices' endpoints
	sameAnswers(t, kubesvc, stock, []question{
		{"_dns._udp." + name, dns.TypeSRV},
		{"_http._tcp." + name, dns.TypeSRV},
		{name, dns.TypeSRV},
		{"web-0." + name, dns.TypeA},
	})
}

// A slice port with a name and no number ("ports are not restricted"): the
// SRV name _any._tcp.<svc> exists without records (NODATA), and its
// endpoints weigh in the service's own SRV records, as with stock's port -1.
func TestHeadlessNamedPortWithoutNumberMatchesStock(t *testing.T) {
	suite(t)
	const ns = "e2e-hs-nonumber"
	namespace(t, ns)
	kubesvc, stock := differentialPair(t)
	createService(t, headlessService(ns, "any", "any", 80))
	sl := slice(ns, "any-a", "any", "any", 80, ep{ip: "10.47.3.1", hostname: "web-0"})
	sl.Ports[0].Port = nil
	createSlice(t, sl)
	createSlice(t, familySlice(ns, "any-b", "any", discoveryv1.AddressTypeIPv4,
		[]discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](80)}}, ep{ip: "10.47.3.2"}))
	name := "any." + ns + ".svc.cluster.local."
	for _, s := range []string{kubesvc.Ports.DNSAddr(), stock.Ports.DNSAddr()} {
		eventually(t, 30*time.Second, "both slices answered", answers(s, "_http._tcp."+name, dns.TypeSRV, want{anyAnswer: true}))
	}
	sameAnswers(t, kubesvc, stock, []question{{"_any._tcp." + name, dns.TypeSRV}, {name, dns.TypeSRV}, {"web-0." + name, dns.TypeA}})
}
