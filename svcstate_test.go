package kubesvc

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

func transformedService(tb testing.TB, svc *corev1.Service) *service {
	tb.Helper()
	s, err := toService(svc)
	if err != nil {
		tb.Fatal(err)
	}
	return s.(*service)
}

func clusterIPOf(ref svcRef) string {
	if ref.svc == nil || ref.svc.kind != kindClusterIP {
		return fmt.Sprintf("no ClusterIP service (%+v)", ref)
	}
	return ref.svc.clusterIP(0).String()
}

// A ClusterIP service without slices leaves the watcher no state of its
// own: the index holds it, and the watcher finds it there when it changes.
func TestPlainClusterIPServicesLeaveTheWatcherNoState(t *testing.T) {
	w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 30}, false)
	for i := range 100 {
		s := transformedService(t, clusterIPSvc("ns", fmt.Sprint("svc-", i), []string{fmt.Sprintf("10.96.0.%d", i+1)}, svcPort("http", "TCP", 80)))
		w.setService(s.stateKey(), s)
	}
	w.ix.publish()
	if n := w.svcs.Len(); n != 0 {
		t.Errorf("after 100 ClusterIP services the watcher holds %d states, want 0", n)
	}
	moved := transformedService(t, clusterIPSvc("ns", "svc-7", []string{"10.96.9.9"}, svcPort("http", "TCP", 80)))
	w.setService(moved.stateKey(), moved)
	if got := clusterIPOf(w.ix.serviceNamed("svc-7.ns")); got != "10.96.9.9" {
		t.Errorf("svc-7 moved to 10.96.9.9: the index holds %s", got)
	}
	if got, want := w.ix.targets(netip.MustParseAddr("10.96.0.8")), ""; got != want {
		t.Errorf("the old cluster IP of svc-7 still has reverse names %q", got)
	}
	if got := w.ix.targets(netip.MustParseAddr("10.96.9.9")); got != "svc-7.ns" {
		t.Errorf("the new cluster IP of svc-7 has reverse names %q, want svc-7.ns", got)
	}
	w.setService("ns/svc-8", nil)
	if ref := w.ix.serviceNamed("svc-8.ns"); ref.exists() {
		t.Errorf("svc-8 deleted: the index still holds %+v", ref)
	}
	if n := w.svcs.Len(); n != 0 {
		t.Errorf("after an update and a deletion the watcher holds %d states, want 0", n)
	}
}

// Slices of a service the watcher holds no state of are kept with it, and
// answer once it turns headless; without them it leaves no state again.
func TestSlicesOfAServiceWithoutStateAnswerWhenItTurnsHeadless(t *testing.T) {
	w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 30}, false)
	cip := transformedService(t, clusterIPSvc("ns", "web", []string{"10.96.0.1"}, svcPort("http", "TCP", 80)))
	w.setService(cip.stateKey(), cip)
	w.ix.publish()
	sl := transformed(slice("ns", "web-x", "web", discovery.AddressTypeIPv4,
		[]discovery.EndpointPort{slicePort("http", "TCP", 80)}, ep("10.0.0.1", "", true), ep("10.0.0.2", "", true)), 2)
	w.setSlice(sl.serviceKey(), sl.name(), sl)
	if st, _ := w.svcs.Get("ns/web"); st == nil || st.svc != cip || len(st.slices()) != 1 {
		t.Fatalf("after a slice of ns/web the watcher holds %+v, want its service and the slice", st)
	}
	if got := clusterIPOf(w.ix.serviceNamed("web.ns")); got != "10.96.0.1" {
		t.Errorf("a slice changed the ClusterIP service's answer: %s", got)
	}
	hs := transformedService(t, headlessSvc("ns", "web", svcPort("http", "TCP", 80)))
	w.setService(hs.stateKey(), hs)
	if ref := w.ix.serviceNamed("web.ns"); ref.hs == nil || ref.hs.addrs != 2 {
		t.Fatalf("ns/web turned headless: the index holds %+v, want its 2 endpoints", ref)
	}
	w.setSlice(sl.serviceKey(), sl.name(), nil)
	back := transformedService(t, clusterIPSvc("ns", "web", []string{"10.96.0.2"}, svcPort("http", "TCP", 80)))
	w.setService(back.stateKey(), back)
	if got := clusterIPOf(w.ix.serviceNamed("web.ns")); got != "10.96.0.2" {
		t.Errorf("ns/web back to ClusterIP 10.96.0.2: the index holds %s", got)
	}
	if n := w.svcs.Len(); n != 0 {
		t.Errorf("ns/web without slices again: the watcher holds %d states, want 0", n)
	}
}

// Stopping a watcher takes its services out of the services gauge once,
// those it holds no state of (still in its index) too; a second stop takes
// nothing out again (stop's promise, which shared_test's double stop relies
// on).
func TestStopUncountsServicesWithoutStateOnce(t *testing.T) {
	gauge := indexServices.WithLabelValues("clusterip")
	before := testutil.ToFloat64(gauge)
	w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 30}, false)
	for i := range 10 {
		s := transformedService(t, clusterIPSvc("gauge", fmt.Sprint("svc-", i), []string{fmt.Sprintf("10.96.1.%d", i+1)}))
		w.setService(s.stateKey(), s)
	}
	if got := testutil.ToFloat64(gauge) - before; got != 10 {
		t.Fatalf("10 ClusterIP services counted %v", got)
	}
	w.stop()
	if got := testutil.ToFloat64(gauge) - before; got != 0 {
		t.Fatalf("after stop the clusterip gauge is %v off where it was, want 0", got)
	}
	w.stop()
	if got := testutil.ToFloat64(gauge) - before; got != 0 {
		t.Errorf("after a second stop the clusterip gauge is %v off where it was before the watcher, want 0", got)
	}
	late := transformedService(t, clusterIPSvc("gauge", "late", []string{"10.96.1.99"}))
	w.setService(late.stateKey(), late)
	w.setService("gauge/svc-1", nil)
	if got := testutil.ToFloat64(gauge) - before; got != 0 {
		t.Errorf("events after stop moved the clusterip gauge %v", got)
	}
}
