package kubesvc

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// The EndpointSlice controller's slices of a service with a cluster IP are
// stored without their endpoints (a shared summary of their readiness
// stands for them); every other slice keeps them.
func TestEndpointSliceKeepsEndpointsOnlyWhereAnswersUseThem(t *testing.T) {
	web := []discovery.EndpointPort{slicePort("http", "TCP", 8080)}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   int
	}{
		{"controller, cluster IP", map[string]string{discovery.LabelManagedBy: endpointSliceController}, 0},
		{"controller, headless", map[string]string{discovery.LabelManagedBy: endpointSliceController, corev1.IsHeadlessService: ""}, 2},
		{"mirroring controller", map[string]string{discovery.LabelManagedBy: "endpointslicemirroring-controller.k8s.io"}, 2},
		{"hand-made", nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sl := slice("ns", "web-x", "web", discovery.AddressTypeIPv4, web, ep("10.1.0.1", "", true), ep("10.1.0.2", "", false))
			for k, v := range tc.labels {
				sl.Labels[k] = v
			}
			obj, err := toEndpointSlice(sl)
			if err != nil {
				t.Fatal(err)
			}
			got := obj.(*endpointSlice)
			compact := tc.want == 0
			switch {
			case compact && !sameSlice(got.endpoints, readySummary):
				t.Errorf("stored %v, want the shared ready summary", got.endpoints)
			case !compact && len(got.endpoints) != tc.want:
				t.Errorf("stored %d endpoints, want %d", len(got.endpoints), tc.want)
			}
			if got.service != "web" || got.key() != "ns/web-x" {
				t.Errorf("stored slice %q of service %q, want ns/web-x of web", got.key(), got.service)
			}
		})
	}
}

func sameSlice(a, b []endpoint) bool { return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) }

// A compact slice's summary says whether an endpoint with an address of
// its family is ready, or none is, or it has none at all.
func TestCompactSliceSummary(t *testing.T) {
	web := []discovery.EndpointPort{slicePort("http", "TCP", 8080)}
	for _, tc := range []struct {
		name string
		eps  []discovery.Endpoint
		want []endpoint
	}{
		{"one ready", []discovery.Endpoint{ep("10.1.0.2", "", false), ep("10.1.0.1", "", true)}, readySummary},
		{"none ready", []discovery.Endpoint{ep("10.1.0.2", "", false)}, notReadySummary},
		{"ready, wrong family", []discovery.Endpoint{ep("fd00::1", "", true), ep("10.1.0.2", "", false)}, notReadySummary},
		{"none", nil, nil},
	} {
		sl := slice("ns", "web-x", "web", discovery.AddressTypeIPv4, web, tc.eps...)
		sl.Labels[discovery.LabelManagedBy] = endpointSliceController
		obj, _ := toEndpointSlice(sl)
		if got := obj.(*endpointSlice).endpoints; !sameSlice(got, tc.want) {
			t.Errorf("%s: stored %v, want %v", tc.name, got, tc.want)
		}
	}
}

// An ExternalName service keeps its externalName after the service, with
// the external data if it has any; a ClusterIP service without external
// data keeps nothing after it, and has no externalName.
func TestExternalNameKeptAfterTheService(t *testing.T) {
	annotated := externalSvc("ns", "annotated", "Db.Example.COM")
	annotated.Annotations = map[string]string{annotationHostname: "db.public.example."}
	for _, tc := range []struct {
		svc          *corev1.Service
		externalName string
		hasExt       bool
		hostnames    int
	}{
		{externalSvc("ns", "plain", "db.example.com"), "db.example.com.", true, 0},
		{annotated, "db.example.com.", true, 1},
		{externalSvc("ns", "bad", "not a name"), "not a name", true, 0},
		{clusterIPSvc("ns", "web", []string{"10.96.0.1"}, svcPort("http", corev1.ProtocolTCP, 80)), "", false, 0},
	} {
		obj, err := toService(tc.svc)
		if err != nil {
			t.Fatal(err)
		}
		s := obj.(*service)
		if s.externalName() != tc.externalName || s.is(svcHasExt) != tc.hasExt {
			t.Errorf("%s: externalName %q, external data %v; want %q, %v", s.key(), s.externalName(), s.is(svcHasExt), tc.externalName, tc.hasExt)
		}
		if x := s.externalData(); x != nil && len(x.hostnames) != tc.hostnames {
			t.Errorf("%s: hostnames %q, want %d", s.key(), x.hostnames, tc.hostnames)
		}
	}
}

// A service keeps every valid cluster IP, in order, whether they fit in
// the service (two) or not (a fake client's, or an import's, third), and
// with external data after it too.
func TestClusterIPsKeptInOrder(t *testing.T) {
	three := clusterIPSvc("ns", "three", []string{"10.96.5.1", "fd00::5:1", "bad", "::ffff:10.96.5.2"})
	withExt := clusterIPSvc("ns", "ext", []string{"10.96.5.3", "fd00::5:3", "10.96.5.4"})
	withExt.Spec.ExternalIPs = []string{"192.0.2.1"}
	for _, tc := range []struct {
		svc  *corev1.Service
		want []string
	}{
		{clusterIPSvc("ns", "none", []string{""}), nil},
		{clusterIPSvc("ns", "one", []string{"10.96.5.9"}), []string{"10.96.5.9"}},
		{clusterIPSvc("ns", "dual", []string{"fd00::5:9", "10.96.5.9"}), []string{"fd00::5:9", "10.96.5.9"}},
		{three, []string{"10.96.5.1", "fd00::5:1", "10.96.5.2"}},
		{withExt, []string{"10.96.5.3", "fd00::5:3", "10.96.5.4"}},
	} {
		obj, err := toService(tc.svc)
		if err != nil {
			t.Fatal(err)
		}
		s := obj.(*service)
		var got []string
		for i := range s.numIPs() {
			got = append(got, s.clusterIP(i).String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: cluster IPs %q, want %q", s.key(), got, tc.want)
		}
	}
}

// A service's index key, "<service>.<namespace>", is its key, or made from
// its key ("namespace/name") for one whose names are not labels or one
// built otherwise; its watcher key is "namespace/name" either way.
func TestServiceIndexKey(t *testing.T) {
	withExt := clusterIPSvc("ns-b", "web", []string{"10.96.5.3"})
	withExt.Spec.ExternalIPs = []string{"192.0.2.1"}
	for _, svc := range []*corev1.Service{clusterIPSvc("ns-a", "web", []string{"10.96.5.1"}), withExt, headlessSvc("n", "h"), externalSvc("ns-c", "x", "example.com")} {
		obj, err := toService(svc)
		if err != nil {
			t.Fatal(err)
		}
		s := obj.(*service)
		want := svc.Name + "." + svc.Namespace
		if got := s.indexKey(); got != want || s.stateKey() != svc.Namespace+"/"+svc.Name || !s.isAt(s.stateKey()) || s.name() != svc.Name || s.namespace() != svc.Namespace {
			t.Errorf("service %s: index key %q, name %q, namespace %q; want %q, %q, %q", s.key(), got, s.name(), s.namespace(), want, svc.Name, svc.Namespace)
		}
	}
	for _, svc := range []*corev1.Service{headlessSvc("ns", "a.b"), headlessSvc("ns.a", "b"), headlessSvc("ns", "B_")} {
		s := transformedService(t, svc)
		if s.isDotted() || s.key() != svc.Namespace+"/"+svc.Name || s.stateKey() != s.key() || s.indexKey() != svc.Name+"."+svc.Namespace {
			t.Errorf("service %s/%s, whose names are not both labels: key %q (dotted %v), index key %q", svc.Namespace, svc.Name, s.key(), s.isDotted(), s.indexKey())
		}
	}
	s := &service{objMeta: keyMeta("ns/odd", 0)}
	if got := s.indexKey(); got != "odd.ns" {
		t.Errorf("index key of a service built otherwise: %q, want odd.ns", got)
	}
}

// An address kept in 16 bytes is the address it was made from, in its
// family (an IPv4-mapped one as the IPv4 address, as endpointAddr reads
// it), the unspecified one included; and a headless member, which keeps one, is
// 40 bytes.
func TestAddr16KeepsTheAddressInItsFamily(t *testing.T) {
	if size := unsafe.Sizeof(hsMember{}); size != 40 {
		t.Errorf("hsMember is %d bytes, want 40", size)
	}
	r := rand.New(rand.NewPCG(8, 9))
	for i := range 3000 {
		var b [16]byte
		for j := range b {
			if r.IntN(3) > 0 {
				b[j] = byte(r.IntN(256))
			}
		}
		ip := netip.AddrFrom16(b)
		switch i % 4 {
		case 0:
			ip = netip.AddrFrom4([4]byte(b[:4]))
		case 1:
			ip = netip.AddrFrom16(netip.AddrFrom4([4]byte(b[:4])).As16()) // IPv4-mapped
		case 2:
			ip = netip.IPv6Unspecified()
		}
		if got, want := addr16Of(ip).addr(), ip.Unmap(); got != want {
			t.Fatalf("addr16 of %v gives back %v, want %v", ip, got, want)
		}
	}
}
