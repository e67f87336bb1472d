package e2e

import (
	"os"
	"testing"

	"github.com/miekg/dns"
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
