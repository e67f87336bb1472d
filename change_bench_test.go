package kubesvc

import (
	"fmt"
	"testing"

	discovery "k8s.io/api/discovery/v1"
)

// changeCluster is make bench's realistic shape at the watcher: ClusterIP
// services each with a slice of 5 ready endpoints, headless services of 10,
// and one headless service of 1,000 endpoints in 10 slices of 100.
type changeCluster struct {
	w    *watcher
	base int // the index's published changes (the SOA serial's trigger) before the measure
}

// changes are the changes the index published since the last reset.
func (c *changeCluster) changes() int { return c.w.ix.changes - c.base }

func newChangeCluster(tb testing.TB, services int) *changeCluster {
	tb.Helper()
	c := &changeCluster{w: newWatcher(records{zones: []string{"cluster.local."}, ttl: 30}, false)}
	web := []discovery.EndpointPort{slicePort("http", "TCP", 8080)}
	add := func(svc any, sls ...*discovery.EndpointSlice) {
		s, _ := toService(svc)
		c.w.setService(s.(*service).stateKey(), s.(*service))
		for _, sl := range sls {
			t, _ := toEndpointSlice(sl)
			c.w.setSlice(t.(*endpointSlice).serviceKey(), t.(*endpointSlice).name(), t.(*endpointSlice))
		}
	}
	for i := range services {
		ns, name := fmt.Sprintf("ns%d", i%50), fmt.Sprintf("svc-%d", i)
		if i%20 == 19 {
			add(headlessSvc(ns, name, svcPort("http", "TCP", 8080)), headlessSlice(ns, name, 0, 10, i, -1))
			continue
		}
		add(clusterIPSvc(ns, name, []string{fmt.Sprintf("10.96.%d.%d", i/250, i%250)}, svcPort("http", "TCP", 80)),
			slice(ns, name+"-x", name, discovery.AddressTypeIPv4, web, moveEndpoints(i, 0)...))
	}
	var big []*discovery.EndpointSlice
	for j := range 10 {
		big = append(big, headlessSlice("big", "big", j, 100, 200+j, -1))
	}
	add(headlessSvc("big", "big", svcPort("http", "TCP", 8080)), big...)
	c.w.ix.publish()
	c.base = c.w.ix.changes
	return c
}

// headlessSlice is slice j of n endpoints of headless service number b,
// endpoint notReady (if >= 0) not ready. Addresses are unique per (b, j, k).
func headlessSlice(ns, svc string, j, n, b, notReady int) *discovery.EndpointSlice {
	var eps []discovery.Endpoint
	for k := range n {
		x := b*1000 + j*n + k
		eps = append(eps, ep(fmt.Sprintf("10.%d.%d.%d", 100+x/62500, x/250%250, x%250+1), "", k != notReady))
	}
	return slice(ns, fmt.Sprintf("%s-%d", svc, j), svc, discovery.AddressTypeIPv4,
		[]discovery.EndpointPort{slicePort("http", "TCP", 8080)}, eps...)
}

// moveEndpoints are a ClusterIP service's 5 pods; gen moves the first one.
func moveEndpoints(i, gen int) []discovery.Endpoint {
	var eps []discovery.Endpoint
	for k := range 5 {
		eps = append(eps, ep(fmt.Sprintf("10.%d.%d.%d", 200+gen%2, i%250, k+1+i/250*5), "", true))
	}
	return eps
}

// transformed returns sl as the informer would hand it over, with a fresh
// resource version so that it is not taken for a replay.
func transformed(sl *discovery.EndpointSlice, rv int) *endpointSlice {
	sl.ResourceVersion = fmt.Sprint(rv)
	t, _ := toEndpointSlice(sl)
	return t.(*endpointSlice)
}

// BenchmarkSliceChange is the watcher's work per EndpointSlice event in a
// cluster of 5,000 services: a readiness flip in the 1,000-endpoint headless
// service, and an endpoint moving behind a ClusterIP service (no answer
// changes). It reports the changes published per event, which move the SOA
// serial: a move behind a ClusterIP service should publish none.
func BenchmarkSliceChange(b *testing.B) {
	b.Run("HeadlessFlip1000", func(b *testing.B) {
		c := newChangeCluster(b, 5000)
		alternate(b, c, flipVersions())
	})
	b.Run("HeadlessFlip1000At100000", func(b *testing.B) {
		c := newChangeCluster(b, 100000)
		alternate(b, c, flipVersions())
	})
	b.Run("HeadlessFlip1000HostnameReadsAsAddress", func(b *testing.B) {
		// One member's hostname reads as an address could ("a"): the
		// record looks every label up in one list (allByLabel), dashed
		// addresses written out.
		c := newChangeCluster(b, 5000)
		web := []discovery.EndpointPort{slicePort("http", "TCP", 8080)}
		hex := transformed(slice("big", "big-hex", "big", discovery.AddressTypeIPv4, web, ep("10.250.0.1", "a", true)), 1)
		c.w.setSlice(hex.serviceKey(), hex.name(), hex)
		if rec := c.w.ix.serviceNamed("big.big").hs; rec == nil || !rec.allByLabel {
			b.Fatal("the record does not look labels up in one list")
		}
		alternate(b, c, flipVersions())
	})
	b.Run("ClusterIPMove", func(b *testing.B) {
		c := newChangeCluster(b, 5000)
		web := []discovery.EndpointPort{slicePort("http", "TCP", 8080)}
		var versions [2]*endpointSlice
		for gen := range versions {
			versions[gen] = transformed(slice("ns7", "svc-7-x", "svc-7", discovery.AddressTypeIPv4, web, moveEndpoints(7, gen+1)...), gen+2)
		}
		alternate(b, c, versions)
	})
}

// flipVersions are a slice of the 1,000-endpoint headless service with an
// endpoint not ready, then ready again.
func flipVersions() [2]*endpointSlice {
	return [2]*endpointSlice{transformed(headlessSlice("big", "big", 3, 100, 203, 7), 1),
		transformed(headlessSlice("big", "big", 3, 100, 203, -1), 2)}
}

// alternate hands the watcher the two versions of a slice in turn, and
// reports the changes it published per event.
func alternate(b *testing.B, c *changeCluster, versions [2]*endpointSlice) {
	n := 0
	for b.Loop() {
		sl := versions[n%2]
		c.w.setSlice(sl.serviceKey(), sl.name(), sl)
		n++
	}
	b.ReportMetric(float64(c.changes())/float64(n), "published/op")
}
