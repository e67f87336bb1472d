package kubesvc

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// hostNameError says why name (a presentation-form FQDN) is not a host name
// of RFC 1123 labels, as resolvers such as Go's net package demand of SRV
// targets and PTR names; "" if it is one.
func hostNameError(name string) string {
	rel := strings.TrimSuffix(name, ".")
	if len(rel) > 253 {
		return fmt.Sprintf("%q: longer than 253 octets", name)
	}
	for label := range strings.SplitSeq(rel, ".") {
		if !isLabel(label) {
			return fmt.Sprintf("%q: label %q is not an RFC 1123 label", name, label)
		}
	}
	return ""
}

// ownerNameError is hostNameError for owner names, which may start with
// SRV's "_<port>._<proto>" (or its parent's "_<proto>").
func ownerNameError(name string) string {
	rel := name
	for range 2 {
		if label, rest, ok := strings.Cut(rel, "."); ok && strings.HasPrefix(label, "_") {
			if !isLabel(label[1:]) {
				return fmt.Sprintf("%q: label %q is not _ and an RFC 1123 label", name, label)
			}
			rel = rest
		}
	}
	return hostNameError(rel)
}

// Every name built for a headless service is a host name, for every form of
// address; each dashed address reads back as its address (pods insecure).
func TestGeneratedNamesAreHostNames(t *testing.T) {
	rec := records{zones: []string{"cluster.local.", "example.org."}, ttl: 30}
	addrs := map[string][]string{ // slice family -> addresses as the API holds them
		string(discovery.AddressTypeIPv6): {
			"fd00:10:244:1::", // :: at the end: the example
			"::a00:1",         // :: at the start
			"fd00::4",         // :: in the middle
			"::",              // nothing but ::
			"2001:db8:1:2:3:4:5:6",
			"::ffff:10.0.7.9", // v4-mapped: an IPv4 endpoint
		},
		string(discovery.AddressTypeIPv4): {"10.0.7.1", "::ffff:10.0.7.8"},
	}
	var objs []*endpointSlice
	for family, as := range addrs {
		var eps []discovery.Endpoint
		for _, a := range as {
			eps = append(eps, ep(a, "", true))
		}
		eps = append(eps, ep("10.0.7.3", "-web-", true), ep("fd00::9", "Web-1", true)) // a hostname that is no label; one in capitals
		s, _ := toEndpointSlice(slice("bug4", "v6h-"+family, "v6h", discovery.AddressType(family),
			[]discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}, eps...))
		objs = append(objs, s.(*endpointSlice))
	}
	svc, _ := toService(headlessSvc("bug4", "v6h", svcPort("web", corev1.ProtocolTCP, 80)))
	o := expanded(rec, svc.(*service), objs)

	var names []string
	for name, b := range o.names {
		names = append(names, name)
		if e := ownerNameError(name); e != "" {
			t.Errorf("owner name: %s", e)
		}
		for _, rr := range b.by[kSRV] {
			if e := hostNameError(rr.(*dns.SRV).Target); e != "" {
				t.Errorf("SRV target: %s", e)
			}
		}
	}
	for _, p := range o.ptrs {
		if e := hostNameError(within(ptrTargetOf(p)+".svc", "cluster.local.")); e != "" {
			t.Errorf("PTR target of %s: %s", p.ip, e)
		}
	}
	slices.Sort(names)
	for _, want := range []string{
		"fd00-10-244-1--0.v6h.bug4.svc.cluster.local.", "0--a00-1.v6h.bug4.svc.cluster.local.",
		"fd00--4.v6h.bug4.svc.example.org.", "0--0.v6h.bug4.svc.cluster.local.",
		"2001-db8-1-2-3-4-5-6.v6h.bug4.svc.cluster.local.", "10-0-7-9.v6h.bug4.svc.cluster.local.",
		"10-0-7-8.v6h.bug4.svc.cluster.local.", "10-0-7-3.v6h.bug4.svc.cluster.local.",
		"web-1.v6h.bug4.svc.cluster.local.",
	} {
		if _, ok := o.names[want]; !ok {
			t.Errorf("no name %s; names: %q", want, names)
		}
	}

	for _, as := range addrs {
		for _, a := range as {
			ip, _ := hostAddr(a)
			d := dashed(ip)
			if back, ok := podIP(d); !ok || back != ip {
				t.Errorf("dashed(%s) = %q reads back as %v, %v", a, d, back, ok)
			}
		}
	}
}

// Names that are not host names are refused wherever they come in: labels
// of a name we build, ExternalName targets, addresses with a zone.
func TestLabelsAreRFC1123(t *testing.T) {
	for s, want := range map[string]bool{
		"web-0": true, "a": true, "0": true, "x1-2": true, strings.Repeat("a", 63): true,
		"": false, "-web": false, "web-": false, "-": false, "a_b": false, "a.b": false, strings.Repeat("a", 64): false,
	} {
		if got := isLabel(s); got != want {
			t.Errorf("isLabel(%q) = %v, want %v", s, got, want)
		}
	}
	for s, want := range map[string]bool{
		"blog.mosuke.tech": true, "_sip._tcp.example.com": true, "a_b.example": true, "x.": true,
		"-x.example": false, "x-.example": false, "a..b": false, "1.2.3.4": false,
	} {
		if _, got := externalTarget(s); got != want {
			t.Errorf("externalTarget(%q) ok = %v, want %v", s, got, want)
		}
	}
	if _, ok := namedPort("-http", corev1.ProtocolTCP, 80); ok {
		t.Errorf("port name -http names an SRV record")
	}
	for _, a := range []string{"fe80::1%eth0", "10.0.0.1%x"} {
		if ip, ok := hostAddr(a); ok {
			t.Errorf("hostAddr(%q) = %v: an address with a zone is no answer", a, ip)
		}
	}
	svc, _ := toService(headlessSvc("ns", "-bad", svcPort("web", corev1.ProtocolTCP, 80)))
	sl, _ := toEndpointSlice(slice("ns", "bad-a", "-bad", discovery.AddressTypeIPv4, nil, ep("10.0.0.1", "", true)))
	if o := (&records{zones: []string{"cluster.local."}}).service(svc.(*service), []*endpointSlice{sl.(*endpointSlice)}, nil, nil); len(o.names) > 0 {
		t.Errorf("a service named -bad owns names: %v", o.names)
	}
}

// An endpoint slice keeps the addresses of its own family; a v4-mapped
// address is IPv4 in either family.
func TestEndpointAddressFamilies(t *testing.T) {
	for _, tc := range []struct {
		addr string
		v4   bool
		want string // "" for refused
	}{
		{"10.0.0.1", true, "10.0.0.1"},
		{"10.0.0.1", false, ""},
		{"fd00::1", false, "fd00::1"},
		{"fd00::1", true, ""},
		{"::ffff:10.0.0.1", true, "10.0.0.1"},
		{"::ffff:10.0.0.1", false, "10.0.0.1"},
		{"fe80::1%eth0", false, ""},
		{"garbage", true, ""},
	} {
		ip, ok := endpointAddr(tc.addr, tc.v4)
		if got := map[bool]string{true: ip.String(), false: ""}[ok]; got != tc.want {
			t.Errorf("endpointAddr(%q, v4=%v) = %q, want %q", tc.addr, tc.v4, got, tc.want)
		}
	}
}

// expanded is what rec.service gives s, with a headless service's record
// expanded into the names, records and PTR references a query or a zone
// transfer gets from it.
func expanded(rec records, s *service, sls []*endpointSlice) *owned {
	o := rec.service(s, sls, nil, nil)
	hs := o.ref.hs
	if hs == nil {
		return o
	}
	for i, zone := range rec.zones {
		base := within(s.indexKey()+".svc", zone)
		a := &hsAnswers{hs: hs, slabs: &caseSlabs{}, ttl: rec.ttl, base: base, maxLabel: maxName - 1 - len(base)}
		a.names(func(name string, rrs, extra []dns.RR) {
			b := o.at(name)
			for _, rr := range rrs {
				b.add(kindOfRR(rr), rr)
			}
			for _, rr := range extra {
				b.add(kExtra, rr)
			}
			if name[0] == '_' {
				o.at(name[strings.IndexByte(name, '.')+1:]) // the _<proto> parent
			}
		})
		if i == 0 {
			_, o.ptrs = hsRefDiff(nil, hs, s.indexKey(), zone)
		}
	}
	return o
}

// render is everything o holds, in the order the index would serve it.
func render(o *owned) string {
	var lines []string
	for name, b := range o.names {
		e := b.entry()
		var rrs []string
		for _, rr := range append(e.all(), e.extra()...) {
			rrs = append(rrs, rr.String())
		}
		lines = append(lines, name+" => "+strings.Join(rrs, " | "))
	}
	slices.Sort(lines) // the names are a map: their order is no answer's
	for _, p := range o.ptrs {
		lines = append(lines, "PTR "+p.ip.String()+" "+ptrTargetOf(p))
	}
	return fmt.Sprintf("endpoints %d\n%s", o.endpoints, strings.Join(lines, "\n"))
}

// permutations calls f with every order of sls.
func permutations(sls []*endpointSlice, f func([]*endpointSlice)) {
	if len(sls) <= 1 {
		f(sls)
		return
	}
	for i := range sls {
		rest := slices.Concat(sls[:i], sls[i+1:])
		permutations(rest, func(p []*endpointSlice) { f(append([]*endpointSlice{sls[i]}, p...)) })
	}
}

// A headless service answers the union of what its slices say, the same
// records in the same order whatever the order of its slices.
func TestHeadlessSlicesInAnyOrder(t *testing.T) {
	rec := records{zones: []string{"cluster.local."}, ttl: 30}
	web := []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}
	v4, v6 := discovery.AddressTypeIPv4, discovery.AddressTypeIPv6
	for _, tc := range []struct {
		name   string
		slices []*discovery.EndpointSlice
		names  []string // exactly the names below the service, relative to it
		addrs  int      // A and AAAA records of the service's own name
		srvs   int      // SRV records of _web._tcp
	}{
		{"hostname in one slice only (issue 14.5)", []*discovery.EndpointSlice{
			slice("ns", "hs-a", "hs", v4, web, ep("10.0.7.1", "", true)),
			slice("ns", "hs-b", "hs", v4, web, ep("10.0.7.1", "web-0", true)),
		}, []string{"10-0-7-1", "web-0"}, 1, 2},
		{"ready in one slice only", []*discovery.EndpointSlice{
			slice("ns", "hs-a", "hs", v4, web, ep("10.0.7.2", "web-1", false)),
			slice("ns", "hs-b", "hs", v4, web, ep("10.0.7.2", "web-1", true)),
		}, []string{"web-1"}, 1, 1},
		{"two hostnames", []*discovery.EndpointSlice{
			slice("ns", "hs-a", "hs", v4, web, ep("10.0.7.3", "web-2", true)),
			slice("ns", "hs-b", "hs", v4, web, ep("10.0.7.3", "web-3", true)),
		}, []string{"web-2", "web-3"}, 1, 2},
		{"ports per slice, one port name on two numbers", []*discovery.EndpointSlice{
			slice("ns", "hs-a", "hs", v4, []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80), slicePort("dns", corev1.ProtocolUDP, 53)},
				ep("10.0.7.4", "web-4", true)),
			slice("ns", "hs-b", "hs", v4, []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 8080)},
				ep("10.0.7.4", "web-4", true), ep("10.0.7.5", "", true)),
		}, []string{"10-0-7-5", "web-4"}, 2, 3},
		{"dual-stack and duplicates within a slice", []*discovery.EndpointSlice{
			slice("ns", "hs-a", "hs", v4, web, ep("10.0.7.6", "web-6", true), ep("10.0.7.6", "", true), ep("10.0.7.6", "web-6", false)),
			slice("ns", "hs-b", "hs", v6, web, ep("fd00::6", "web-6", true)),
			slice("ns", "hs-c", "hs", v6, web, ep("fd00::6", "web-6", true), ep("fd00::", "", true)),
		}, []string{"10-0-7-6", "fd00--0", "web-6"}, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, _ := toService(headlessSvc("ns", "hs", svcPort("web", corev1.ProtocolTCP, 80)))
			var sls []*endpointSlice
			for _, s := range tc.slices {
				o, _ := toEndpointSlice(s)
				sls = append(sls, o.(*endpointSlice))
			}
			first := expanded(rec, svc.(*service), sls)
			var below []string
			for n := range first.names {
				if rel, ok := strings.CutSuffix(n, ".hs.ns.svc.cluster.local."); ok && !strings.HasPrefix(rel, "_") {
					below = append(below, rel)
				}
			}
			slices.Sort(below)
			if !slices.Equal(below, tc.names) {
				t.Errorf("names below the service %q, want %q:\n%s", below, tc.names, render(first))
			}
			if b := first.names["hs.ns.svc.cluster.local."]; b == nil || len(b.by[kA])+len(b.by[kAAAA]) != tc.addrs || first.endpoints != tc.addrs {
				t.Errorf("want %d addresses for the service and in the endpoints metric:\n%s", tc.addrs, render(first))
			}
			if n := len(first.names["_web._tcp.hs.ns.svc.cluster.local."].by[kSRV]); n != tc.srvs {
				t.Errorf("%d SRV records, want %d:\n%s", n, tc.srvs, render(first))
			}
			for _, p := range first.ptrs {
				if !slices.Contains(tc.names, strings.TrimSuffix(ptrTargetOf(p), ".hs.ns")) {
					t.Errorf("PTR of %s points at %s, not at a name of %q", p.ip, ptrTargetOf(p), tc.names)
				}
			}
			want := render(first)
			permutations(sls, func(p []*endpointSlice) {
				if got := render(expanded(rec, svc.(*service), p)); got != want {
					var order []string
					for _, s := range p {
						order = append(order, s.name())
					}
					t.Errorf("slices in order %v answer\n%s\nbut in the order given\n%s", order, got, want)
				}
			})
		})
	}
}

// Spec 2.4.1: a headless service without ready endpoints is NXDOMAIN: it
// owns no name at all, nor does anything exist below it; with
// publishNotReadyAddresses its not-ready endpoints count.
func TestHeadlessWithoutReadyEndpoints(t *testing.T) {
	rec := records{zones: []string{"cluster.local.", "example.org."}, ttl: 30}
	notReady, _ := toEndpointSlice(slice("ns", "idle-a", "idle", discovery.AddressTypeIPv4,
		[]discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}, ep("10.0.8.1", "idle-0", false)))
	sls := []*endpointSlice{notReady.(*endpointSlice)}
	svc := headlessSvc("ns", "idle", svcPort("web", corev1.ProtocolTCP, 80))
	s, _ := toService(svc)
	for what, o := range map[string]*owned{
		"only a not-ready endpoint": expanded(rec, s.(*service), sls),
		"no slice":                  expanded(rec, s.(*service), nil),
	} {
		if len(o.names) > 0 || len(o.ptrs) > 0 || o.endpoints != 0 {
			t.Errorf("%s: want no names, got\n%s", what, render(o))
		}
	}
	svc.Spec.PublishNotReadyAddresses = true
	s, _ = toService(svc)
	o := expanded(rec, s.(*service), sls)
	for _, n := range []string{"idle.ns.svc.cluster.local.", "idle-0.idle.ns.svc.example.org.", "_web._tcp.idle.ns.svc.cluster.local."} {
		if _, ok := o.names[n]; !ok {
			t.Errorf("publishNotReadyAddresses: no name %s:\n%s", n, render(o))
		}
	}
}

// A reverse name with several owners lists their names in one order,
// whichever owner the watcher saw first: clients often take the first PTR.
func TestSharedReverseNameOrder(t *testing.T) {
	web := []discovery.EndpointPort{slicePort("web", corev1.ProtocolTCP, 80)}
	type owner struct {
		svc *corev1.Service
		sl  *discovery.EndpointSlice
	}
	owners := []owner{
		{headlessSvc("a", "one", svcPort("web", corev1.ProtocolTCP, 80)),
			slice("a", "one-x", "one", discovery.AddressTypeIPv4, web, ep("10.0.9.9", "pod", true))},
		{headlessSvc("b", "two", svcPort("web", corev1.ProtocolTCP, 80)),
			slice("b", "two-x", "two", discovery.AddressTypeIPv4, web, ep("10.0.9.9", "", true))},
		{clusterIPSvc("c", "three", []string{"10.0.9.9"}), nil},
	}
	var first string
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
		w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 30}, false)
		for _, i := range order {
			s, _ := toService(owners[i].svc)
			w.setService(s.(*service).stateKey(), s.(*service))
			if owners[i].sl != nil {
				sl, _ := toEndpointSlice(owners[i].sl)
				w.setSlice(sl.(*endpointSlice).serviceKey(), sl.(*endpointSlice).name(), sl.(*endpointSlice))
			}
		}
		rels := splitTargets(w.ix.targets(netip.MustParseAddr("10.0.9.9")))
		if len(rels) != 3 {
			t.Fatalf("order %v: want 3 PTR targets, got %q", order, rels)
		}
		got := fmt.Sprint(rels)
		if first == "" {
			first = got
		} else if got != first {
			t.Errorf("owners seen in order %v answer\n%s\nbut in the first order\n%s", order, got, first)
		}
	}
}

// A service kind that records does not know is a bug: it panics, instead
// of the service silently owning no name (NXDOMAIN for a service that
// exists).
func TestRecordsRefuseUnknownServiceKind(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("records.service gave a service of an unknown kind no names, want a panic")
		}
	}()
	rec := records{zones: []string{"cluster.local."}, ttl: 30}
	s := &service{objMeta: keyMeta("ns/odd", 0), kind: numSvcKinds}
	expanded(rec, s, nil)
}
