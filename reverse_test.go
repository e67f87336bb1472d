package kubesvc

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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

// The reverse names of a service's addresses answer in both families'
// trees: an IPv4 address's ip6.arpa name (as its IPv4-mapped address) too,
// and IPv6 addresses apart from IPv4 ones.
func TestReverseNamesOfBothFamilies(t *testing.T) {
	k, _ := newTestKubeSvc(t, clusterCorefile,
		clusterIPSvc("rev", "dual", []string{"10.96.3.1", "fd00::3:1"}))
	mapped := netip.AddrFrom16(netip.MustParseAddr("10.96.3.1").As16())
	nibbles := func(ip netip.Addr) string {
		b := ip.As16()
		var s strings.Builder
		for i := len(b) - 1; i >= 0; i-- {
			fmt.Fprintf(&s, "%x.%x.", b[i]&0xf, b[i]>>4)
		}
		return s.String() + "ip6.arpa."
	}
	for _, qname := range []string{"1.3.96.10.in-addr.arpa.", nibbles(mapped), nibbles(netip.MustParseAddr("fd00::3:1"))} {
		_, m := ask(k, test.Case{Qname: qname, Qtype: dns.TypePTR})
		if m == nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != "dual.rev.svc.cluster.local." {
			t.Errorf("%s PTR: want dual.rev.svc.cluster.local., got %v", qname, m)
		}
	}
	if _, m := ask(k, test.Case{Qname: nibbles(netip.MustParseAddr("fd00::3:2")), Qtype: dns.TypePTR}); m != nil && len(m.Answer) != 0 {
		t.Errorf("PTR of an address no service has: got %v", m.Answer)
	}
}

// A reverse name with several owners answers every owner's name, and keeps
// the others' when one goes: a pod behind two headless services, a cluster
// IP handed to a new service before the old one's deletion arrived.
func TestSharedReverseNames(t *testing.T) {
	k, client := newTestKubeSvc(t, clusterCorefile)
	ctx := context.Background()
	web := []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}
	objs := []runtime.Object{
		headlessSvc("a", "one", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("a", "one-x", "one", discovery.AddressTypeIPv4, web, ep("10.0.9.9", "pod", true)),
		headlessSvc("b", "two", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("b", "two-x", "two", discovery.AddressTypeIPv4, web, ep("10.0.9.9", "", true)),
		clusterIPSvc("a", "old", []string{"10.96.9.9"}),
		clusterIPSvc("b", "new", []string{"10.96.9.9"}),
	}
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Service:
			_, err = client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1Create)
		case *discovery.EndpointSlice:
			_, err = client.DiscoveryV1().EndpointSlices(o.Namespace).Create(ctx, o, metav1Create)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	ptrs := func(name string) []string {
		_, m := ask(k, test.Case{Qname: name, Qtype: dns.TypePTR})
		if m == nil {
			return nil // not in the index yet: passed on to the next plugin
		}
		var out []string
		for _, rr := range m.Answer {
			out = append(out, rr.(*dns.PTR).Ptr)
		}
		slices.Sort(out)
		return out
	}
	settled := func(name string, want ...string) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%s -> %v", name, want), func() bool { return slices.Equal(ptrs(name), want) })
	}
	settled("9.9.0.10.in-addr.arpa.", "10-0-9-9.two.b.svc.cluster.local.", "pod.one.a.svc.cluster.local.")
	settled("9.9.96.10.in-addr.arpa.", "new.b.svc.cluster.local.", "old.a.svc.cluster.local.")

	if err := client.CoreV1().Services("a").Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Services("a").Delete(ctx, "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	settled("9.9.0.10.in-addr.arpa.", "10-0-9-9.two.b.svc.cluster.local.")
	settled("9.9.96.10.in-addr.arpa.", "new.b.svc.cluster.local.")

	if err := client.CoreV1().Services("b").Delete(ctx, "new", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the last owner's deletion", func() bool {
		rcode, m := ask(k, test.Case{Qname: "9.9.96.10.in-addr.arpa.", Qtype: dns.TypePTR})
		return rcode == dns.RcodeRefused && m == nil // gone from the index: falls through
	})
}

// nibbleName is the ip6.arpa name of the 16 bytes of ip (an IPv4 address
// as its IPv4-mapped form).
func nibbleName(ip netip.Addr) string {
	b := ip.As16()
	var s strings.Builder
	for i := len(b) - 1; i >= 0; i-- {
		fmt.Fprintf(&s, "%x.%x.", b[i]&0xf, b[i]>>4)
	}
	return s.String() + "ip6.arpa."
}

// The ip6.arpa name of an IPv4 endpoint's IPv4-mapped address answers with
// the IPv4 address's PTR records (TestReverseNamesOfBothFamilies): for a
// headless member without a hostname, that is its dashed IPv4 address
// "10-0-9-9.<svc>.<ns>.svc.<zone>", as the in-addr.arpa name answers, not
// the mapped IPv6 address written with dashes ("0--ffff-10.0.9.9...", whose
// dots make it three labels more, under a name that does not exist). A
// review found it.
func TestMappedReverseNameOfDashedMemberPointsAtItsIPv4Name(t *testing.T) {
	web := []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}
	k, _ := newTestKubeSvc(t, clusterCorefile,
		headlessSvc("b", "two", svcPort("web", corev1.ProtocolTCP, 80)),
		slice("b", "two-x", "two", discovery.AddressTypeIPv4, web, ep("10.0.9.9", "", true)))
	want := "10-0-9-9.two.b.svc.cluster.local."
	for _, qname := range []string{"9.9.0.10.in-addr.arpa.", nibbleName(netip.MustParseAddr("10.0.9.9"))} {
		var got []string
		waitFor(t, qname+" answered", func() bool {
			_, m := ask(k, test.Case{Qname: qname, Qtype: dns.TypePTR})
			if m == nil {
				return false
			}
			got = got[:0]
			for _, rr := range m.Answer {
				got = append(got, rr.(*dns.PTR).Ptr)
			}
			return true
		})
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s PTR: got %q, want [%q]", qname, got, want)
		}
	}
}

// ptrTargetOf is the name, relative to ".svc.<zone>", a PTR reference points
// at: "/<key>" stands for the address dashed under key (see targets).
func ptrTargetOf(p ptrRef) string {
	if key, ok := strings.CutPrefix(p.rel, "/"); ok {
		return dashed(p.ip) + "." + key
	}
	return p.rel
}

// An endpoint whose hostname reads as its own dashed address has the name
// it had without one: the change between the two moved no reverse
// reference, and the one left behind answered PTR after the endpoint (and
// its service) had gone, pointing at a name that no longer existed. A
// helper's random changes, each checked against a server started from the
// state reached, found it.
func TestReverseNameGoesWithAnEndpointWhoseHostnameIsItsDashedAddress(t *testing.T) {
	for _, order := range [][2]string{{"", "10-0-0-3"}, {"10-0-0-3", ""}} {
		t.Run(fmt.Sprintf("hostname %q then %q", order[0], order[1]), func(t *testing.T) {
			web := []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}
			k, client := newTestKubeSvc(t, clusterCorefile, headlessSvc("ns", "hs", svcPort("web", corev1.ProtocolTCP, 80)),
				slice("ns", "hs-0", "hs", discovery.AddressTypeIPv4, web, ep("10.0.0.3", order[0], true)))
			const rev, target = "3.0.0.10.in-addr.arpa.", "10-0-0-3.hs.ns.svc.cluster.local."
			ptrs := func() string {
				rcode, m := ask(k, test.Case{Qname: rev, Qtype: dns.TypePTR})
				if m == nil {
					return dns.RcodeToString[rcode] + " (passed on)"
				}
				return fmt.Sprint(dns.RcodeToString[m.Rcode], m.Answer)
			}
			waitFor(t, rev+" -> "+target, func() bool { return strings.Contains(ptrs(), target) })
			update := func(sl *discovery.EndpointSlice, rv string) {
				t.Helper()
				sl.ResourceVersion = rv
				if _, err := client.DiscoveryV1().EndpointSlices("ns").Update(context.Background(), sl, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			update(slice("ns", "hs-0", "hs", discovery.AddressTypeIPv4, web, ep("10.0.0.3", order[1], true)), "5")
			waitFor(t, "the hostname's change", func() bool {
				m := askFrom(k, "10.244.0.5", "10-0-0-3.hs.ns.svc.cluster.local.", dns.TypeA)
				return m != nil && len(m.Answer) == 1
			})
			update(slice("ns", "hs-0", "hs", discovery.AddressTypeIPv4, web), "6")
			waitFor(t, "hs's last endpoint's going", func() bool {
				return askFrom(k, "10.244.0.5", "hs.ns.svc.cluster.local.", dns.TypeA).Rcode == dns.RcodeNameError
			})
			if got := ptrs(); strings.Contains(got, target) {
				t.Errorf("PTR %s after the endpoint went: %s; want no record pointing at %s", rev, got, target)
			}
		})
	}
}
