package kubesvc

import (
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// A change to a headless service replaces its record in place, in the
// cell its shard's map holds: the map, a few hundred services at 100,000,
// is not copied, and a view taken before the change (a zone transfer's)
// still reads the record it saw.
func TestHeadlessChangeKeepsItsShardAndViewsTheirRecord(t *testing.T) {
	c := newChangeCluster(t, 400)
	ix := c.w.ix
	s := shardOf("big.big")
	shard, before := ix.svcs[s].Load(), ix.view()
	flip := flipVersions()
	c.w.setSlice(flip[0].serviceKey(), flip[0].name(), flip[0])

	if ix.svcs[s].Load() != shard {
		t.Errorf("a readiness flip in big.big replaced the table of its shard (%d services)", shard.Len())
	}
	ready := func(ref svcRef) int { return ref.hs.members.Len() }
	if got := ready(ix.serviceNamed("big.big")); got != 999 {
		t.Errorf("after the flip big.big has %d members, want 999", got)
	}
	seen := -1
	for key, ref := range before.services {
		if key == "big.big" {
			seen = ready(ref)
		}
	}
	if seen != 1000 {
		t.Errorf("the view taken before the flip has %d members of big.big, want 1000 (-1: none)", seen)
	}
	// A service removed still copies its shard.
	c.w.setService("big/big", nil)
	if ix.svcs[s].Load() == shard || ix.serviceNamed("big.big").exists() {
		t.Errorf("big.big deleted: its shard was not replaced, or still holds it")
	}
}

// What a readiness flip allocates does not grow with the cluster: at
// 40,000 services it is within half again of what it is at 4,000 (before
// the index shared its shards' unchanged parts, it was 2.7 times).
func TestFlipAllocatesAlikeAtAnySize(t *testing.T) {
	perFlip := func(services int) float64 {
		c, flip := newChangeCluster(t, services), flipVersions()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		const n = 200
		for i := range n {
			c.w.setSlice(flip[i%2].serviceKey(), flip[i%2].name(), flip[i%2])
		}
		runtime.ReadMemStats(&m1)
		return float64(m1.TotalAlloc-m0.TotalAlloc) / n
	}
	small, large := perFlip(4000), perFlip(40000)
	if large > 1.5*small {
		t.Errorf("a flip allocates %.0f B at 40,000 services and %.0f B at 4,000: %.2f times", large, small, large/small)
	}
	t.Logf("a flip allocates %.0f B at 40,000 services and %.0f B at 4,000", large, small)
}

// A slot is one word that tells a headless cell from a service, and the
// cell's tagged address alone keeps the cell from being collected.
func TestSlotIsOneWordAndKeepsItsCell(t *testing.T) {
	if size := unsafe.Sizeof(svcSlot{}); size != 8 {
		t.Errorf("svcSlot is %d bytes, want 8", size)
	}
	svc := &service{objMeta: keyMeta("ns/web", 0)}
	if s := serviceSlot(svc); s.svc() != svc || s.cell() != nil {
		t.Errorf("service slot gives service %p and cell %p, want %p and none", s.svc(), s.cell(), svc)
	}
	collected := make(chan struct{})
	c := &hsCell{key: "hl.ns"}
	runtime.SetFinalizer(c, func(*hsCell) { close(collected) })
	s := cellSlot(c)
	if s.cell() != c || s.svc() != nil {
		t.Fatalf("cell slot gives cell %p and service %p, want %p and none", s.cell(), s.svc(), c)
	}
	c = nil
	for range 3 {
		runtime.GC()
	}
	select {
	case <-collected:
		t.Fatal("the cell was collected while a slot held it")
	case <-time.After(50 * time.Millisecond):
	}
	if got := slotKey(s); got != "hl.ns" {
		t.Errorf("slot's key is %q, want hl.ns", got)
	}
	runtime.KeepAlive(s)
}
