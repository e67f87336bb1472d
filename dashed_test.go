package kubesvc

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// appendDashed writes what the address's string with its separators
// replaced reads (the form dashed had as string operations), after what
// dst holds, for random IPv4 and IPv6 addresses, runs of zeros included.
func TestAppendDashedIsTheAddressWithDashes(t *testing.T) {
	byStrings := func(ip netip.Addr) string {
		if ip.Is4() {
			return strings.ReplaceAll(ip.String(), ".", "-")
		}
		s := strings.ReplaceAll(ip.String(), ":", "-")
		if s[0] == '-' {
			s = "0" + s
		}
		if s[len(s)-1] == '-' {
			s += "0"
		}
		return s
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		var b [16]byte
		for j := range b {
			if r.IntN(3) > 0 { // zeros often, for "::" at either end or inside
				b[j] = byte(r.Uint32())
			}
		}
		ip := netip.AddrFrom16(b)
		if i%2 == 0 {
			ip = netip.AddrFrom4([4]byte(b[:4]))
		}
		want := byStrings(ip)
		if got := string(appendDashed([]byte("x."), ip)); got != "x."+want {
			t.Fatalf("appendDashed(%q, %s) = %q, want %q", "x.", ip, got, "x."+want)
		}
	}
}
