package e2e

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubesvc/kubesvc/e2e/coredns"
)

// Issue 14, items 4 to 6: the names of headless services.

// isHostLabel: an RFC 1123 label, as resolvers demand of host names.
func isHostLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range l {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// hostNameError says why name is not a host name, or "". The first
// underscored labels may start with '_' ("_http._tcp." of SRV owner names).
func hostNameError(name string, underscored int) string {
	rel := strings.TrimSuffix(name, ".")
	if len(rel) > 253 {
		return fmt.Sprintf("%q is longer than 253 octets", name)
	}
	for i, l := range strings.Split(rel, ".") {
		if i < underscored && strings.HasPrefix(l, "_") {
			l = l[1:]
		}
		if !isHostLabel(l) {
			return fmt.Sprintf("%q: label %q is not an RFC 1123 label", name, l)
		}
	}
	return ""
}

// namesAreHostNames checks every name in every section of r: owner names
// (SRV names may start with "_<port>._<proto>") and the names records point
// at.
func namesAreHostNames(r *dns.Msg) error {
	var errs []string
	for _, rr := range slices.Concat(r.Answer, r.Ns, r.Extra) {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		check := func(what, name string, underscored int) {
			if e := hostNameError(name, underscored); e != "" {
				errs = append(errs, what+": "+e)
			}
		}
		check("owner", rr.Header().Name, 2)
		switch v := rr.(type) {
		case *dns.SRV:
			check("SRV target", v.Target, 0)
		case *dns.PTR:
			check("PTR", v.Ptr, 0)
		case *dns.CNAME:
			check("CNAME target", v.Target, 0)
		case *dns.SOA:
			check("SOA mname", v.Ns, 0)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("not host names: %s", strings.Join(errs, "; "))
	}
	return nil
}

// goResolver is Go's own resolver (which refuses answers holding names that
// are not host names) speaking proto to addr.
func goResolver(addr, proto string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, proto, addr)
	}}
}

// familySlice is slice with the addresses of family and the given ports.
func familySlice(ns, name, svc string, family discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...ep) *discoveryv1.EndpointSlice {
	sl := slice(ns, name, svc, "x", 1, eps...)
	sl.AddressType, sl.Ports = family, ports
	return sl
}

func port(name string, n int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Port: ptr.To(n), Protocol: ptr.To(corev1.ProtocolTCP)}
}

// TestGeneratedNamesAreHostNames: the dashed name of every form of address
// (IPv6 with :: at the end, the start, the middle; IPv4; v4-mapped) is a
// host name, and Go's resolver takes the SRV and PTR answers.
func TestGeneratedNamesAreHostNames(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const ns = "bug4"
	namespace(t, ns)
	web := []discoveryv1.EndpointPort{port("web", 80)}
	createService(t, headlessService(ns, "v6h", "web", 80))
	createSlice(t, familySlice(ns, "v6h-a", "v6h", discoveryv1.AddressTypeIPv6, web,
		ep{ip: "fd00:10:244:1::"}, ep{ip: "fd00::4"}, ep{ip: "::a00:1"}))
	createSlice(t, familySlice(ns, "v6h-b", "v6h", discoveryv1.AddressTypeIPv4, web,
		ep{ip: "10.0.9.1"}))
	svc := "v6h." + ns + ".svc.cluster.local."
	dashed := map[string]string{ // address -> its name
		"fd00:10:244:1::": "fd00-10-244-1--0." + svc,
		"fd00::4":         "fd00--4." + svc,
		"::a00:1":         "0--a00-1." + svc,
		"10.0.9.1":        "10-0-9-1." + svc,
	}
	var srvs []string
	for _, name := range dashed {
		srvs = append(srvs, "_web._tcp."+svc+" 30 IN SRV 0 * 80 "+name)
	}
	hostNames := want{anyAnswer: true, check: namesAreHostNames}
	eventually(t, 5*time.Second, "v6h's four SRV records", answers(addr, "_web._tcp."+svc, dns.TypeSRV, want{anyAnswer: true, check: func(r *dns.Msg) error {
		if len(r.Answer) != len(dashed) {
			return fmt.Errorf("%d SRV records", len(r.Answer))
		}
		return nil
	}}))

	cases := []recordCase{
		{"SRV", "_web._tcp." + svc, dns.TypeSRV, want{answer: srvs, check: namesAreHostNames}},
		{"AAAA", svc, dns.TypeAAAA, hostNames},
	}
	for ip, name := range dashed {
		rrType, qtype := "AAAA", dns.TypeAAAA
		if !strings.Contains(ip, ":") {
			rrType, qtype = "A", dns.TypeA
		}
		cases = append(cases,
			recordCase{"name-of-" + ip, name, qtype, want{answer: []string{name + " 30 IN " + rrType + " " + ip}, check: namesAreHostNames}},
			recordCase{"PTR-of-" + ip, reverse(t, ip), dns.TypePTR, want{answer: []string{reverse(t, ip) + " 30 IN PTR " + name}, check: namesAreHostNames}},
			// pods insecure reads the dashed form back as the address.
			recordCase{"pod-name-of-" + ip, strings.Replace(name, ".v6h."+ns+".svc.", "."+ns+".pod.", 1), qtype, want{anyAnswer: true, check: func(r *dns.Msg) error {
				if got := addrs(r.Answer); !slices.Equal(got, []string{net.ParseIP(ip).String()}) {
					return fmt.Errorf("pod name answers %v, want %s", got, ip)
				}
				return nil
			}}},
		)
	}
	runCases(t, addr, cases)

	goResolverTakes(t, addr, svc, dashed)
}

// goResolverTakes checks that Go's resolver takes the SRV answer of
// _web._tcp.<svc> and the PTR answer of each address in dashed, over UDP and
// TCP, and finds the names dashed gives.
func goResolverTakes(t *testing.T, addr, svc string, dashed map[string]string) {
	t.Helper()
	for _, proto := range protos {
		t.Run("go-resolver/"+proto, func(t *testing.T) {
			r := goResolver(addr, proto)
			ctx := ctxFor(t, 10*time.Second)
			_, got, err := r.LookupSRV(ctx, "web", "tcp", svc)
			var targets []string
			for _, s := range got {
				targets = append(targets, s.Target)
			}
			slices.Sort(targets)
			if err != nil {
				t.Fatalf("Go's LookupSRV refuses the answer: %v (SRV targets it kept: %q)", err, targets)
			}
			wantTargets := slices.Sorted(maps.Values(dashed))
			if !slices.Equal(targets, wantTargets) {
				t.Errorf("LookupSRV targets %q, want %q", targets, wantTargets)
			}
			for ip, name := range dashed {
				names, err := r.LookupAddr(ctx, ip)
				if err != nil || !slices.Equal(names, []string{name}) {
					t.Errorf("Go's LookupAddr(%s) = %q, %v; want [%s]", ip, names, err, name)
				}
			}
		})
	}
}

// TestHeadlessSlicesUnion: an address listed without a hostname in one slice
// and with one in another has both names (the spec asks a name of each
// endpoint), whichever slice's name sorts first (hs-a/hs-b, then the same
// with the names swapped), and its PTR names the hostname; ready in one
// slice is ready; ports of both slices are served.
func TestHeadlessSlicesUnion(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const ns = "e2e-union"
	namespace(t, ns)
	fq := func(s string) string { return s + "." + ns + ".svc.cluster.local." }
	web := []discoveryv1.EndpointPort{port("http", 80)}
	v4 := discoveryv1.AddressTypeIPv4
	for _, svc := range []string{"hs", "sh", "rd", "dr", "pt"} {
		createService(t, headlessService(ns, svc, "http", 80))
	}
	// The example, and the same with the slices' names swapped.
	createSlice(t, familySlice(ns, "hs-a", "hs", v4, web, ep{ip: "10.0.7.1"}))
	createSlice(t, familySlice(ns, "hs-b", "hs", v4, web, ep{ip: "10.0.7.1", hostname: "web-0"}))
	createSlice(t, familySlice(ns, "sh-a", "sh", v4, web, ep{ip: "10.0.7.2", hostname: "web-0"}))
	createSlice(t, familySlice(ns, "sh-b", "sh", v4, web, ep{ip: "10.0.7.2"}))
	// Not ready with a hostname in one slice, ready without in the other.
	createSlice(t, familySlice(ns, "rd-a", "rd", v4, web, ep{ip: "10.0.7.3", hostname: "web-3", notReady: true}))
	createSlice(t, familySlice(ns, "rd-b", "rd", v4, web, ep{ip: "10.0.7.3"}))
	createSlice(t, familySlice(ns, "dr-a", "dr", v4, web, ep{ip: "10.0.7.4"}))
	createSlice(t, familySlice(ns, "dr-b", "dr", v4, web, ep{ip: "10.0.7.4", hostname: "web-4", notReady: true}))
	// One address in two slices with other ports.
	createSlice(t, familySlice(ns, "pt-a", "pt", v4, web, ep{ip: "10.0.7.5", hostname: "web-5"}))
	createSlice(t, familySlice(ns, "pt-b", "pt", v4, []discoveryv1.EndpointPort{port("admin", 9090)}, ep{ip: "10.0.7.5"}))
	eventually(t, 5*time.Second, "the last slice answered", answers(addr, "_admin._tcp."+fq("pt"), dns.TypeSRV, want{anyAnswer: true}))

	var cases []recordCase
	for _, c := range []struct{ svc, ip string }{{"hs", "10.0.7.1"}, {"sh", "10.0.7.2"}} {
		host, dashedName := "web-0."+fq(c.svc), strings.ReplaceAll(c.ip, ".", "-")+"."+fq(c.svc)
		cases = append(cases,
			recordCase{c.svc + "-A", fq(c.svc), dns.TypeA, want{answer: []string{fq(c.svc) + " 30 IN A " + c.ip}}},
			recordCase{c.svc + "-hostname-A", host, dns.TypeA, want{answer: []string{host + " 30 IN A " + c.ip}}},
			recordCase{c.svc + "-dashed-A", dashedName, dns.TypeA, want{answer: []string{dashedName + " 30 IN A " + c.ip}}},
			recordCase{c.svc + "-SRV", "_http._tcp." + fq(c.svc), dns.TypeSRV, want{
				answer: []string{"_http._tcp." + fq(c.svc) + " 30 IN SRV 0 50 80 " + host, "_http._tcp." + fq(c.svc) + " 30 IN SRV 0 50 80 " + dashedName},
				extra:  []string{host + " 30 IN A " + c.ip, dashedName + " 30 IN A " + c.ip},
			}},
			recordCase{c.svc + "-PTR", reverse(t, c.ip), dns.TypePTR, want{answer: []string{reverse(t, c.ip) + " 30 IN PTR " + host}}},
		)
	}
	for _, c := range []struct{ svc, ip, host string }{{"rd", "10.0.7.3", "web-3"}, {"dr", "10.0.7.4", "web-4"}} {
		dashedName := strings.ReplaceAll(c.ip, ".", "-") + "." + fq(c.svc)
		cases = append(cases,
			recordCase{c.svc + "-A", fq(c.svc), dns.TypeA, want{answer: []string{fq(c.svc) + " 30 IN A " + c.ip}}},
			recordCase{c.svc + "-dashed-A", dashedName, dns.TypeA, want{answer: []string{dashedName + " 30 IN A " + c.ip}}},
			recordCase{c.svc + "-not-ready-hostname", c.host + "." + fq(c.svc), dns.TypeA, nxDomain},
		)
	}
	cases = append(cases,
		// pt-b lists the address without a hostname: its dashed name too.
		recordCase{"pt-SRV-http", "_http._tcp." + fq("pt"), dns.TypeSRV, want{answer: []string{
			"_http._tcp." + fq("pt") + " 30 IN SRV 0 50 80 web-5." + fq("pt"), "_http._tcp." + fq("pt") + " 30 IN SRV 0 50 80 10-0-7-5." + fq("pt")}}},
		recordCase{"pt-SRV-admin", "_admin._tcp." + fq("pt"), dns.TypeSRV, want{answer: []string{
			"_admin._tcp." + fq("pt") + " 30 IN SRV 0 50 9090 web-5." + fq("pt"), "_admin._tcp." + fq("pt") + " 30 IN SRV 0 50 9090 10-0-7-5." + fq("pt")}}},
		recordCase{"pt-PTR", reverse(t, "10.0.7.5"), dns.TypePTR, want{answer: []string{reverse(t, "10.0.7.5") + " 30 IN PTR web-5." + fq("pt")}}},
	)
	runCases(t, addr, cases)
}

// TestHeadlessWithoutReadyEndpoints: spec 2.4.1, a headless service with no
// ready endpoint is NXDOMAIN, and so is every name below it; it comes back
// when an endpoint gets ready and goes again when none is. The namespace
// stays, publishNotReadyAddresses counts not-ready endpoints, and the
// endpoints gauge follows.
func TestHeadlessWithoutReadyEndpoints(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const ns = "e2e-idle"
	gauge := func() float64 {
		m, err := coredns.Scrape(nil, srv.Ports.MetricsURL())
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		return m.Sum("coredns_kubesvc_endpoints")
	}
	base := gauge()
	namespace(t, ns)
	fq := func(s string) string { return s + "." + ns + ".svc.cluster.local." }
	createService(t, headlessService(ns, "idle", "http", 80))
	idle := createSlice(t, slice(ns, "idle-a", "idle", "http", 80, ep{ip: "10.0.8.1", hostname: "idle-0", notReady: true}))
	createService(t, headlessService(ns, "empty", "http", 80))
	pnr := headlessService(ns, "pnr", "http", 80)
	pnr.Spec.PublishNotReadyAddresses = true
	createService(t, pnr)
	createSlice(t, slice(ns, "pnr-a", "pnr", "http", 80, ep{ip: "10.0.8.2", notReady: true}))
	pnrA := want{answer: []string{fq("pnr") + " 30 IN A 10.0.8.2"}}
	eventually(t, 5*time.Second, "pnr answered", answers(addr, fq("pnr"), dns.TypeA, pnrA))

	gone := []recordCase{
		{"idle-A", fq("idle"), dns.TypeA, nxDomain},
		{"idle-AAAA", fq("idle"), dns.TypeAAAA, nxDomain},
		{"idle-SRV", "_http._tcp." + fq("idle"), dns.TypeSRV, nxDomain},
		{"idle-SRV-parent", "_tcp." + fq("idle"), dns.TypeSRV, nxDomain},
		{"idle-hostname", "idle-0." + fq("idle"), dns.TypeA, nxDomain},
		{"empty-A", fq("empty"), dns.TypeA, nxDomain},
		{"empty-SRV", "_http._tcp." + fq("empty"), dns.TypeSRV, nxDomain},
		{"namespace", ns + ".svc.cluster.local.", dns.TypeA, noData},
		{"pnr-A", fq("pnr"), dns.TypeA, pnrA},
	}
	runCases(t, addr, gone)
	eventually(t, 5*time.Second, "endpoints gauge counts pnr's one address", func() (bool, string) {
		g := gauge()
		return g-base == 1, fmt.Sprintf("gauge %v, %v before the test", g, base)
	})

	setReady := func(ready bool) {
		t.Helper()
		idle.Endpoints[0].Conditions.Ready = ptr.To(ready)
		var err error
		idle, err = kube.Client.DiscoveryV1().EndpointSlices(ns).Update(ctxFor(t, 10*time.Second), idle, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update idle-a: %v", err)
		}
	}
	setReady(true)
	host := "idle-0." + fq("idle")
	eventually(t, 5*time.Second, "idle answered once ready", answers(addr, fq("idle"), dns.TypeA, want{answer: []string{fq("idle") + " 30 IN A 10.0.8.1"}}))
	runCases(t, addr, []recordCase{
		{"ready-AAAA-nodata", fq("idle"), dns.TypeAAAA, noData},
		{"ready-SRV", "_http._tcp." + fq("idle"), dns.TypeSRV, want{answer: []string{"_http._tcp." + fq("idle") + " 30 IN SRV 0 100 80 " + host}}},
		{"ready-SRV-parent", "_tcp." + fq("idle"), dns.TypeSRV, noData},
		{"ready-hostname", host, dns.TypeA, want{answer: []string{host + " 30 IN A 10.0.8.1"}}},
	})
	if g := gauge(); g-base != 2 {
		t.Errorf("endpoints gauge %v with idle ready, want %v", g, base+2)
	}

	setReady(false)
	eventually(t, 5*time.Second, "idle gone once not ready", answers(addr, fq("idle"), dns.TypeA, nxDomain))
	runCases(t, addr, gone)
	if g := gauge(); g-base != 1 {
		t.Errorf("endpoints gauge %v with idle not ready again, want %v", g, base+1)
	}
}

// TestSharedReverseNameOrder: a pod behind headless services of two
// namespaces has one PTR record per service, in the same order whichever
// service the server saw first (clients often take the first).
func TestSharedReverseNameOrder(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	for _, ns := range []string{"e2e-ptr-a", "e2e-ptr-b"} {
		namespace(t, ns)
	}
	owner := func(ns, ip, hostname string) {
		createService(t, headlessService(ns, "web-"+strings.ReplaceAll(ip, ".", "-"), "http", 80))
		createSlice(t, slice(ns, "web-"+strings.ReplaceAll(ip, ".", "-")+"-x", "web-"+strings.ReplaceAll(ip, ".", "-"), "http", 80, ep{ip: ip, hostname: hostname}))
	}
	// 10.0.10.1: a's service first; 10.0.10.2: b's first.
	owner("e2e-ptr-a", "10.0.10.1", "pod")
	owner("e2e-ptr-b", "10.0.10.1", "pod")
	owner("e2e-ptr-b", "10.0.10.2", "pod")
	owner("e2e-ptr-a", "10.0.10.2", "pod")
	var cases []recordCase
	for _, ip := range []string{"10.0.10.1", "10.0.10.2"} {
		svc := "web-" + strings.ReplaceAll(ip, ".", "-")
		first, second := "pod."+svc+".e2e-ptr-a.svc.cluster.local.", "pod."+svc+".e2e-ptr-b.svc.cluster.local."
		w := want{
			answer: []string{reverse(t, ip) + " 30 IN PTR " + first, reverse(t, ip) + " 30 IN PTR " + second},
			first:  reverse(t, ip) + " 30 IN PTR " + first,
		}
		eventually(t, 5*time.Second, "both PTR records of "+ip, answers(addr, reverse(t, ip), dns.TypePTR, want{answer: w.answer}))
		cases = append(cases, recordCase{"PTR-" + ip, reverse(t, ip), dns.TypePTR, w})
	}
	runCases(t, addr, cases)
}
