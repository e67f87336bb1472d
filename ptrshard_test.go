package kubesvc

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// The reverse names' shards hold what was set last for each address, in
// both families, and a shard once published never changes: readers hold
// it while later changes are published in copies.
func TestPTRShardsHoldTheLastSetAndPublishedOnesStay(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	addrs := make([]netip.Addr, 600)
	for i := range addrs {
		if i%3 == 0 {
			addrs[i] = netip.AddrFrom16([16]byte{0xfd, 0, 15: byte(i), 14: byte(i >> 8)})
		} else {
			addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(rnd.IntN(3))})
		}
	}
	ix := newIndex(1)
	want := map[netip.Addr]string{}
	change := func(n int) {
		batch := map[ptrKey]string{}
		for range n {
			ip := addrs[rnd.IntN(len(addrs))]
			rels := ""
			if rnd.IntN(3) > 0 {
				rels = fmt.Sprintf("svc-%d.ns", rnd.IntN(50))
			}
			batch[keyOf(ip)] = rels
		}
		for k, rels := range batch {
			if rels == "" {
				delete(want, k.addr())
			} else {
				want[k.addr()] = rels
			}
		}
		ix.setPTRs(batch)
	}
	check := func(when string, v *view, want map[netip.Addr]string) {
		t.Helper()
		held := 0
		for _, p := range v.ptrs {
			held += p.len()
		}
		if held != len(want) {
			t.Errorf("%s: the shards hold %d addresses, want %d", when, held, len(want))
		}
		for _, ip := range addrs {
			k := keyOf(ip)
			if got := v.ptrs[shardOf(k[:])].get(ip); got != want[ip] {
				t.Errorf("%s: %v points at %q, want %q", when, ip, got, want[ip])
			}
		}
	}
	for range 100 {
		change(5) // the initial load, in place
	}
	ix.publish()
	for round := range 40 {
		before, held := ix.view(), map[netip.Addr]string{}
		for ip, rels := range want {
			held[ip] = rels
		}
		change(1 + rnd.IntN(40))
		check(fmt.Sprintf("round %d", round), ix.view(), want)
		check(fmt.Sprintf("round %d, the view published before it", round), before, held)
	}
	if ix.size() != len(want) {
		t.Errorf("the index counts %d names, want %d reverse names", ix.size(), len(want))
	}
}
