package kubesvc

import (
	"slices"
	"strconv"
	"testing"

	"github.com/miekg/dns"

	discovery "k8s.io/api/discovery/v1"
)

// A slice change behind a ClusterIP service changes no answer: nothing is
// published and the SOA serial's trigger is not pulled.
func TestClusterIPSliceChangePublishesNothing(t *testing.T) {
	c := newChangeCluster(t, 100)
	web := []discovery.EndpointPort{slicePort("http", "TCP", 8080)}
	before := shardPointers(c.w.ix)
	for gen := range 3 {
		sl := transformed(slice("ns7", "svc-7-x", "svc-7", discovery.AddressTypeIPv4, web, moveEndpoints(7, gen+1)...), gen+10)
		c.w.setSlice(sl.serviceKey(), sl.name(), sl)
	}
	c.w.setSlice("ns7/svc-7", "svc-7-x", nil)
	if c.changes() != 0 {
		t.Errorf("4 slice events behind a ClusterIP service published %d changes, want 0", c.changes())
	}
	if n := changedShards(before, c.w.ix); n != 0 {
		t.Errorf("4 slice events behind a ClusterIP service replaced %d index shards, want 0", n)
	}
}

// A readiness flip in a big headless service replaces the service's record
// and the one reverse name that changed, and no ready-made name.
func TestHeadlessFlipPublishesOnlyChangedNames(t *testing.T) {
	c := newChangeCluster(t, 100)
	before := shardPointers(c.w.ix)
	record := c.w.ix.serviceNamed("big.big").hs
	sl := transformed(headlessSlice("big", "big", 3, 100, 203, 7), 10)
	c.w.setSlice(sl.serviceKey(), sl.name(), sl)
	if c.changes() != 1 {
		t.Errorf("a readiness flip published %d changes, want 1", c.changes())
	}
	if n := changedShards(before, c.w.ix); n != 0 {
		t.Errorf("a readiness flip replaced %d shards of ready-made names, want 0", n)
	}
	if c.w.ix.serviceNamed("big.big").hs == record {
		t.Errorf("a readiness flip left the service's record as it was")
	}
	if n := addresses(c.w.ix, "big.big.svc.cluster.local."); n != 999 {
		t.Errorf("big.big.svc.cluster.local. has %d A records after the flip, want 999", n)
	}
}

// addresses is the number of A records a headless service's name (in
// cluster.local.) has in ix (-1: no such name).
func addresses(ix *index, name string) int {
	ref, start := ix.serviceUnder([]byte(name), "cluster.local.")
	if ref.hs == nil || start != 0 {
		return -1
	}
	a := &hsAnswers{hs: ref.hs, slabs: &caseSlabs{}, base: name}
	return len(a.addrs(a.base, dns.TypeA))
}

func shardPointers(ix *index) (out [numShards]*map[string]*entry) {
	for i := range ix.shards {
		out[i] = ix.shards[i].Load()
	}
	return out
}

func changedShards(before [numShards]*map[string]*entry, ix *index) int {
	n := 0
	for i := range ix.shards {
		if ix.shards[i].Load() != before[i] {
			n++
		}
	}
	return n
}

// A slice whose labels move it from one slice watch to the other can arrive
// in the second before it leaves the first: the first's deletion of the old
// version must not take away the new one.
func TestSliceMovedBetweenWatchesIsKept(t *testing.T) {
	c := newChangeCluster(t, 100)
	old := transformed(headlessSlice("big", "big", 3, 100, 203, -1), 10)
	moved := transformed(headlessSlice("big", "big", 3, 100, 203, 7), 11)
	old.watch, moved.watch = 0, 1
	// A deletion carries the resource version of the deletion, not of what
	// the informer held.
	gone := *old
	gone.setRV(12)
	c.w.setSlice(old.serviceKey(), old.name(), old)
	c.w.setSlice(moved.serviceKey(), moved.name(), moved) // added by the other watch
	c.w.removeSlice(old.serviceKey(), &gone)              // then deleted by the first
	if n := addresses(c.w.ix, "big.big.svc.cluster.local."); n != 999 {
		t.Fatalf("after a slice moved between watches, big.big.svc.cluster.local. has %d A records, want 999: the moved slice's ready addresses and the other slices'", n)
	}
	gone = *moved
	gone.setRV(13)
	c.w.removeSlice(moved.serviceKey(), &gone)
	if n := addresses(c.w.ix, "big.big.svc.cluster.local."); n != 900 {
		t.Errorf("after the moved slice's own deletion, big.big.svc.cluster.local. has %d A records, want the other 9 slices' 900", n)
	}
}

// A service's slices stay sorted by name through arrivals, updates and
// deletions, and a service left without slices holds no list.
func TestServiceSlicesStaySorted(t *testing.T) {
	mk := func(name, rv string) *endpointSlice {
		sl, _ := toEndpointSlice(slice("ns", name, "svc", discovery.AddressTypeIPv4, nil))
		s := sl.(*endpointSlice)
		s.setRV(parseRV(rv))
		return s
	}
	names := func(st *svcState) (out []string) {
		for _, sl := range st.slices() {
			out = append(out, sl.name()+"@"+strconv.FormatUint(sl.rv(), 10))
		}
		return out
	}
	st := &svcState{}
	for _, step := range []struct {
		name, rv string // rv "": deleted
		want     []string
	}{
		{"b", "1", []string{"b@1"}},
		{"a", "2", []string{"a@2", "b@1"}},
		{"c", "3", []string{"a@2", "b@1", "c@3"}},
		{"b", "4", []string{"a@2", "b@4", "c@3"}},
		{"x", "", []string{"a@2", "b@4", "c@3"}},
		{"a", "", []string{"b@4", "c@3"}},
		{"c", "", []string{"b@4"}},
		{"b", "", nil},
	} {
		var sl *endpointSlice
		if step.rv != "" {
			sl = mk(step.name, step.rv)
		}
		st.setSlice(step.name, sl)
		if got := names(st); !slices.Equal(got, step.want) {
			t.Fatalf("after %s@%q: slices %q, want %q", step.name, step.rv, got, step.want)
		}
		if (st.sls == nil) != (len(step.want) == 0) {
			t.Fatalf("after %s@%q: list held %v with %d slices", step.name, step.rv, st.sls != nil, len(step.want))
		}
	}
}
