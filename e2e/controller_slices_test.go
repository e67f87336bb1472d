package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// controllerSlice labels sl as the EndpointSlice controller labels the
// slices it keeps: managed-by, and headless for a headless service.
func controllerSlice(sl *discoveryv1.EndpointSlice, headless bool) *discoveryv1.EndpointSlice {
	sl.Labels[discoveryv1.LabelManagedBy] = "endpointslice-controller.k8s.io"
	if headless {
		sl.Labels[corev1.IsHeadlessService] = ""
	}
	return sl
}

// kubesvc stores the controller's slices of services with a cluster IP
// without their endpoints; a headless service's are kept whole, and the
// answers of both kinds are what they were.
func TestControllerSlicesAnswerAsBefore(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const ns = "e2e-ctrl-slices"
	namespace(t, ns)
	fq := func(s string) string { return s + "." + ns + ".svc.cluster.local." }

	cip := createService(t, clusterIPService(ns, "web", "http", 80))
	createSlice(t, controllerSlice(slice(ns, "web-abc", "web", "http", 80, ep{ip: "10.8.0.1"}, ep{ip: "10.8.0.2"}), false))
	createService(t, headlessService(ns, "db", "pg", 5432))
	createSlice(t, controllerSlice(slice(ns, "db-abc", "db", "pg", 5432, ep{ip: "10.8.1.1", hostname: "db-0"}, ep{ip: "10.8.1.2", notReady: true}), true))

	dbA := want{answer: []string{fq("db") + " 30 IN A 10.8.1.1"}}
	eventually(t, 10*time.Second, "db answered", answers(addr, fq("db"), dns.TypeA, dbA))
	for _, proto := range []string{"udp", "tcp"} {
		expect(t, query(t, addr, proto, fq("web"), dns.TypeA), want{answer: []string{fq("web") + " 30 IN A " + cip.Spec.ClusterIP}})
		expect(t, query(t, addr, proto, fq("db"), dns.TypeA), dbA)
		expect(t, query(t, addr, proto, "db-0."+fq("db"), dns.TypeA), want{answer: []string{"db-0." + fq("db") + " 30 IN A 10.8.1.1"}})
		expect(t, query(t, addr, proto, "_pg._tcp."+fq("db"), dns.TypeSRV), want{
			answer: []string{"_pg._tcp." + fq("db") + " 30 IN SRV 0 * 5432 db-0." + fq("db")},
			extra:  []string{"db-0." + fq("db") + " 30 IN A 10.8.1.1"},
		})
	}
}

// kubesvc watches the controller's slices of headless services and every
// slice others manage, apart: a slice whose labels move it from one watch to
// the other (no controller does that, but a person may) ends up answered
// whichever watch tells first, the addition by one or the removal by the
// other. In between its service may be NXDOMAIN for as long as the two
// watches are apart (README, Bugs).
func TestSliceMovingBetweenWatchesEndsAnswered(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const ns = "e2e-slice-move"
	namespace(t, ns)
	name := "db." + ns + ".svc.cluster.local."
	createService(t, headlessService(ns, "db", "pg", 5432))
	sl := createSlice(t, slice(ns, "db-abc", "db", "pg", 5432, ep{ip: "10.8.2.1"}, ep{ip: "10.8.2.2"}))
	dbA := want{answer: []string{name + " 30 IN A 10.8.2.1", name + " 30 IN A 10.8.2.2"}}
	eventually(t, 10*time.Second, "db answered", answers(addr, name, dns.TypeA, dbA))
	for i, headless := range []bool{true, false, true, false} {
		if headless {
			sl = controllerSlice(sl, true)
		} else {
			delete(sl.Labels, discoveryv1.LabelManagedBy)
			delete(sl.Labels, corev1.IsHeadlessService)
		}
		var err error
		if sl, err = kube.Client.DiscoveryV1().EndpointSlices(ns).Update(ctxFor(t, 10*time.Second), sl, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("relabel db-abc (%d): %v", i, err)
		}
		eventually(t, 5*time.Second, fmt.Sprintf("db answered after relabel %d", i), answers(addr, name, dns.TypeA, dbA))
		// and it stays answered: a late removal by the other watch does not
		// take it away
		time.Sleep(time.Second)
		expect(t, query(t, addr, "udp", name, dns.TypeA), dbA)
	}
}

// The controller's slices of a headless service come and go one after
// another (as make bench's programming-latency phase writes them): each is
// answered on creation, on update and gone on deletion.
func TestControllerSliceLifecycle(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const ns = "e2e-slice-life"
	namespace(t, ns)
	name := "hl." + ns + ".svc.cluster.local."
	createService(t, headlessService(ns, "hl", "http", 80))
	for cycle := range 4 {
		ip := func(last int) string { return fmt.Sprintf("10.8.3%d.%d", cycle, last) }
		sl := createSlice(t, controllerSlice(slice(ns, fmt.Sprintf("hl-%04d", cycle), "hl", "http", 80, ep{ip: ip(1)}, ep{ip: ip(2)}, ep{ip: ip(3)}), true))
		eventually(t, 5*time.Second, "slice created", answers(addr, name, dns.TypeA, want{answer: []string{name + " 30 IN A " + ip(1), name + " 30 IN A " + ip(2), name + " 30 IN A " + ip(3)}}))
		sl.Endpoints[2].Addresses = []string{ip(4)}
		var err error
		if sl, err = kube.Client.DiscoveryV1().EndpointSlices(ns).Update(ctxFor(t, 10*time.Second), sl, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "slice updated", answers(addr, name, dns.TypeA, want{answer: []string{name + " 30 IN A " + ip(1), name + " 30 IN A " + ip(2), name + " 30 IN A " + ip(4)}}))
		if err := kube.Client.DiscoveryV1().EndpointSlices(ns).Delete(ctxFor(t, 10*time.Second), sl.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "slice deleted", answers(addr, name, dns.TypeA, nxDomain))
	}
}
