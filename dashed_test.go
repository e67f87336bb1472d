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

// A member's label, written from its address when it goes by it, orders,
// measures, fits and compares as the label's text does, for random members of
// both kinds and both families (hostnames that read as addresses too).
func TestMemberLabelsCompareAsTheirText(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	member := func() hsMember {
		var ip netip.Addr
		if r.IntN(2) == 0 {
			ip = netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(3)), byte(r.IntN(3))})
		} else {
			ip = netip.AddrFrom16([16]byte{0xfd, 15: byte(r.IntN(3))})
		}
		switch r.IntN(3) {
		case 0:
			return newMember(ip, "", nil, true, true, 0)
		case 1:
			return newMember(ip, dashed(netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(3)), 1})), nil, true, false, 0)
		}
		return newMember(ip, []string{"web-0", "web-1", "fd00--1"}[r.IntN(3)], nil, true, false, 0)
	}
	text := func(m hsMember) string {
		if m.dashed {
			return dashed(m.ip())
		}
		return m.label()
	}
	for range 5000 {
		x, y := member(), member()
		tx, ty := text(x), text(y)
		if got, want := compareLabels(&x, &y), strings.Compare(tx, ty); got != want {
			t.Fatalf("compareLabels(%q, %q) = %d, want %d", tx, ty, got, want)
		}
		if got, want := x.compareLabelTo([]byte(ty)), strings.Compare(tx, ty); got != want {
			t.Fatalf("%q.compareLabelTo(%q) = %d, want %d", tx, ty, got, want)
		}
		if got := string(x.appendLabel([]byte("x."))); got != "x."+tx || x.labelLen() != len(tx) {
			t.Fatalf("member %q: appendLabel gives %q, labelLen %d", tx, got, x.labelLen())
		}
		if got := sameLabel(&x, &y); got != (tx == ty) {
			t.Fatalf("sameLabel(%q, %q) = %v", tx, ty, got)
		}
		if max := r.IntN(50); x.labelFits(max) != (len(tx) <= max) {
			t.Fatalf("member %q: labelFits(%d) = %v", tx, max, x.labelFits(max))
		}
	}
}
