package kubesvc

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"
)

// The reverse names' shards hold what was set last for each address, in
// both families, and a shard once published never changes: readers hold
// it while later changes are published in copies.
//
// The addresses fall in three shards, about 700 in each, so that a shard's
// lists are cut into chunks and changes insert into, delete from and cut
// them again.
func TestPTRShardsHoldTheLastSetAndPublishedOnesStay(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	addrs := addrsInShards(2000, 3)
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

// addrsInShards are n distinct addresses, a third of them IPv6, in the
// first shards of the reverse names.
func addrsInShards(n, shards int) []netip.Addr {
	var addrs []netip.Addr
	for i := 0; len(addrs) < n; i++ {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if len(addrs)%3 == 0 {
			ip = netip.AddrFrom16([16]byte{0xfd, 0, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
		}
		if k := keyOf(ip); shardOf(k[:]) < shards {
			addrs = append(addrs, ip)
		}
	}
	return addrs
}

// A change to one address of a published shard copies the chunk that
// holds it and shares every other with the shard before it: what a change
// costs does not grow with the shard, nor so with the cluster.
func TestPTRChangeCopiesOneChunk(t *testing.T) {
	addrs := addrsInShards(3000, 1) // about 2,000 IPv4 addresses in shard 0
	ix := newIndex(1)
	load := map[ptrKey]string{}
	for i, ip := range addrs {
		load[keyOf(ip)] = fmt.Sprintf("pod-%d.ns", i)
	}
	ix.setPTRs(load)
	ix.publish()
	for i, ip := range []netip.Addr{addrs[1], addrs[1000], addrs[2998]} { // IPv4: not a multiple of 3
		before := ix.ptrs[0].Load().v4.chunks
		rels := ""
		if i == 1 {
			rels = "moved.ns"
		}
		ix.setPTRs(map[ptrKey]string{keyOf(ip): rels})
		after := ix.ptrs[0].Load().v4.chunks
		if len(before) < 10 {
			t.Fatalf("shard 0 holds its 2,000 IPv4 addresses in %d chunks, want them cut in chunks of about %d", len(before), ptrChunk)
		}
		shared := 0
		old := map[*ptrAt[uint32]]bool{}
		for _, c := range before {
			old[&c[0]] = true
		}
		for _, c := range after {
			if old[&c[0]] {
				shared++
			}
		}
		if shared != len(before)-1 {
			t.Errorf("setting %v: the new shard shares %d of %d chunks with the one before, want all but one", ip, shared, len(before))
		}
		if got := ix.ptrs[0].Load().get(ip); got != rels {
			t.Errorf("%v points at %q, want %q", ip, got, rels)
		}
	}
}

// Deletions do not leave a list in ever more, ever smaller chunks. Pod
// addresses are handed out in order, so a new one lands in the last chunk
// while deletions thin out all the others; a chunk no change fills again
// would be kept, however small, until its last address goes, and the list
// of chunks a change copies would grow to several times the entries over
// ptrChunk. Every chunk but the first keeps half of ptrChunk or more.
func TestPTRChunksStayHalfFullUnderChurn(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	ix := newIndex(1)
	next := 0
	fresh := func() ptrKey { // the next address in order that falls in shard 0
		for {
			next++
			if k := keyOf(netip.AddrFrom4([4]byte{10, byte(next >> 16), byte(next >> 8), byte(next)})); shardOf(k[:]) == 0 {
				return k
			}
		}
	}
	live, load := make([]ptrKey, 600), map[ptrKey]string{}
	for i := range live {
		live[i] = fresh()
		load[live[i]] = "pod.ns"
	}
	ix.setPTRs(load)
	ix.publish()
	for round := range 20000 {
		i, k := rnd.IntN(len(live)), fresh()
		ix.setPTRs(map[ptrKey]string{live[i]: "", k: "pod.ns"})
		live[i] = k
		chunks := ix.ptrs[0].Load().v4.chunks
		for j, c := range chunks[1:] {
			if len(c) < ptrChunk/2 {
				t.Fatalf("after %d changes chunk %d of %d holds %d addresses, want %d or more", round+1, j+1, len(chunks), len(c), ptrChunk/2)
			}
		}
	}
	if l := ix.ptrs[0].Load().v4; l.n != len(live) || ix.size() != len(live) {
		t.Errorf("the list holds %d addresses and the index counts %d, want %d", l.n, ix.size(), len(live))
	}
}

// An IPv4 address's reverse entry is 16 bytes (its targets' length beside
// the address), and gives back the targets it was made with.
func TestIPv4ReverseEntryIs16BytesAndKeepsItsTargets(t *testing.T) {
	if size := unsafe.Sizeof(ptrAt[uint32]{}); size != 16 {
		t.Errorf("ptrAt[uint32] is %d bytes, want 16", size)
	}
	for _, rels := range []string{"", "web.ns", "/hl.ns web-0.hl.ns"} {
		e := newPTRAt(uint32(7), rels)
		if got := e.rels(); got != rels {
			t.Errorf("entry made with %q gives back %q", rels, got)
		}
	}
}
