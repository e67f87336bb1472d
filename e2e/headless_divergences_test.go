package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

// Divergences from stock that TestRandomHeadlessServicesMatchStock found and
// that are not fixed yet: each test shows one, and skips unless
// KUBESVC_E2E_KNOWN_DIVERGENCES=1 (so that the suite stays green until the
// fix, which removes the skip).
func knownDivergence(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("KUBESVC_E2E_KNOWN_DIVERGENCES") != "1" {
		t.Skipf("known divergence from stock, not fixed yet: %s (KUBESVC_E2E_KNOWN_DIVERGENCES=1 runs it)", what)
	}
}

// An address listed ready in two slices of a headless service (as while it
// moves between slices) weighs in the SRV records as stock weighs it: once
// per slice and port. Stock answers 10-47-2-1 and 10-47-2-2 on port 80 with
// weight 33 (three endpoint entries), kubesvc with 50 (two merged members).
func TestHeadlessAddressInTwoSlicesSRVWeightsMatchStock(t *testing.T) {
	knownDivergence(t, "SRV weights count an address listed in two slices once, stock twice")
	suite(t)
	const ns = "e2e-hs-twice"
	namespace(t, ns)
	kubesvc, stock := differentialPair(t)
	createService(t, headlessService(ns, "twice", "http", 80))
	createSlice(t, slice(ns, "twice-a", "twice", "http", 80, ep{ip: "10.47.2.1"}))
	createSlice(t, slice(ns, "twice-b", "twice", "http", 80, ep{ip: "10.47.2.1"}, ep{ip: "10.47.2.2"}))
	name := "twice." + ns + ".svc.cluster.local."
	bothAnswer(t, kubesvc, stock, "_http._tcp."+name, dns.TypeSRV, dns.RcodeSuccess, 2)
	sameAnswers(t, kubesvc, stock, []question{{"_http._tcp." + name, dns.TypeSRV}, {name, dns.TypeSRV}})
}

// A slice port with a name and no number ("ports are not restricted"):
// stock has the SRV name _any._tcp.<svc> (NODATA: no record for port -1),
// kubesvc drops the port and answers NXDOMAIN.
func TestHeadlessNamedPortWithoutNumberMatchesStock(t *testing.T) {
	knownDivergence(t, "_<port>._<proto> of a port without a number is NXDOMAIN, stock NODATA")
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
