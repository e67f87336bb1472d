package kubesvc

import (
	"net/netip"
	"testing"
)

// reverseIP reads exactly the names dns.ReverseAddr makes, and nothing
// else: a parent of reverse names, a label too many or too few, leading
// zeros and out-of-range octets are no address.
func TestReverseIPReadsOnlyFullReverseNames(t *testing.T) {
	for _, a := range []string{"10.96.0.10", "0.0.0.0", "255.255.255.255", "10.0.9.9", "fd00::9", "::1", "2001:db8:1:2:3:4:5:6", "fd00:10:244:1::"} {
		ip := netip.MustParseAddr(a)
		name := reverse(ip)
		if got, ok := reverseIP([]byte(name)); !ok || got != ip {
			t.Errorf("reverseIP(%q) = %v, %v; want %v", name, got, ok, ip)
		}
	}
	for _, name := range []string{
		"96.10.in-addr.arpa.", "in-addr.arpa.", "1.10.0.96.10.in-addr.arpa.", "010.0.96.10.in-addr.arpa.",
		"256.0.96.10.in-addr.arpa.", "a.0.96.10.in-addr.arpa.", "1..96.10.in-addr.arpa.", ".0.96.10.in-addr.arpa.",
		"9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", // no trailing dot
		"9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.ip6.arpa.",  // 31 nibbles
		"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
		"09.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
		"10.0.96.10.svc.cluster.local.",
	} {
		if got, ok := reverseIP([]byte(name)); ok {
			t.Errorf("reverseIP(%q) = %v, want no address", name, got)
		}
	}
}
