package e2e

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
)

// mappedReverse is the ip6.arpa name of the IPv4-mapped form of an IPv4
// address (::ffff:a.b.c.d), all 32 nibbles.
func mappedReverse(ip string) string {
	b := netip.MustParseAddr(ip).As16()
	var s strings.Builder
	for i := len(b) - 1; i >= 0; i-- {
		fmt.Fprintf(&s, "%x.%x.", b[i]&0xf, b[i]>>4)
	}
	return s.String() + "ip6.arpa."
}

// The ip6.arpa name of an IPv4 endpoint's IPv4-mapped address: stock reads
// it as the IPv4 address and answers that address's PTR, for a headless
// member without a hostname its dashed IPv4 name; kubesvc answers the
// same (it once wrote the mapped IPv6 address dashed, "0--ffff-10.41.0.3",
// whose dots are labels).
func TestDifferentialMappedReverseNameOfDashedEndpointMatchesStock(t *testing.T) {
	suite(t)
	const ns = "e2e-mapped-ptr"
	namespace(t, ns)
	createService(t, headlessService(ns, "hl", "http", 8080))
	createSlice(t, slice(ns, "hl-a", "hl", "http", 8080, ep{ip: "10.41.0.2", hostname: "web-0"}, ep{ip: "10.41.0.3"}))
	kubesvc, stock := differentialPair(t)
	ready := func(s *coredns.Server) func() (bool, string) {
		return answers(s.Ports.DNSAddr(), reverse(t, "10.41.0.3"), dns.TypePTR, want{anyAnswer: true})
	}
	eventually(t, 30*time.Second, "kubesvc has the objects", ready(kubesvc))
	eventually(t, 30*time.Second, "stock has the objects", ready(stock))
	for _, ip := range []string{"10.41.0.3", "10.41.0.2"} {
		sameAsStock(t, kubesvc, stock, reverse(t, ip), dns.TypePTR)
		sameAsStock(t, kubesvc, stock, mappedReverse(ip), dns.TypePTR)
	}
}
