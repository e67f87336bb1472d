package kubesvc

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"
)

// ptrShard is one shard of the reverse names: for each address, the names
// its PTR records point at (see index.targets). Each family is a list
// sorted by address, IPv4 apart (most addresses are): an address costs the
// 24 bytes of its entry, where a map's slot, spare slots and growth cost
// about 70 (BenchmarkSyncMemory). A lookup is a binary search; PTR queries
// are few, and a shard holds a few hundred addresses at 100,000 services.
type ptrShard struct {
	v4 []ptrAt[uint32]
	v6 []ptrAt[ptrKey]
}

// ptrAt is one address and its targets.
type ptrAt[K any] struct {
	ip   K
	rels string
}

func newPTRShard() *ptrShard { return &ptrShard{} }

func v4Key(ip netip.Addr) uint32 {
	a := ip.As4()
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func v4Addr(k uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)})
}

func compareV6(a, b ptrKey) int { return bytes.Compare(a[:], b[:]) }

// find is where k is, or would be, in the sorted list l.
func find[K any](l []ptrAt[K], k K, compare func(K, K) int) (int, bool) {
	return slices.BinarySearchFunc(l, k, func(e ptrAt[K], k K) int { return compare(e.ip, k) })
}

// get is the targets of ip; an IPv4-mapped address is the IPv4 one, as
// the index keys them (keyOf).
func (p *ptrShard) get(ip netip.Addr) string {
	if ip = ip.Unmap(); ip.Is4() {
		if i, ok := find(p.v4, v4Key(ip), cmp.Compare[uint32]); ok {
			return p.v4[i].rels
		}
		return ""
	}
	if i, ok := find(p.v6, keyOf(ip), compareV6); ok {
		return p.v6[i].rels
	}
	return ""
}

func (p *ptrShard) len() int { return len(p.v4) + len(p.v6) }

// each calls yield with every address of the shard and its targets.
func (p *ptrShard) each(yield func(ip netip.Addr, rels string)) {
	for _, e := range p.v4 {
		yield(v4Addr(e.ip), e.rels)
	}
	for _, e := range p.v6 {
		yield(e.ip.addr(), e.rels)
	}
}

// set sets or ("") deletes the targets of ip in p's lists, which the caller
// owns, and reports whether ip had some before.
func (p *ptrShard) set(ip netip.Addr, rels string) (had bool) {
	if ip = ip.Unmap(); ip.Is4() {
		p.v4, had = setAt(p.v4, v4Key(ip), rels, cmp.Compare[uint32])
		return had
	}
	p.v6, had = setAt(p.v6, keyOf(ip), rels, compareV6)
	return had
}

func setAt[K any](l []ptrAt[K], k K, rels string, compare func(K, K) int) ([]ptrAt[K], bool) {
	i, had := find(l, k, compare)
	switch {
	case had && rels == "":
		return slices.Delete(l, i, i+1), true
	case had:
		l[i].rels = rels
		return l, true
	case rels != "":
		return slices.Insert(l, i, ptrAt[K]{k, rels}), false
	}
	return l, false
}

// setPTRs sets the names each address's PTR records point at ("": it has
// none). Once the index is published, a touched shard's lists are copied
// first, once for all of its changes, with room for what they add.
func (ix *index) setPTRs(ptrs map[ptrKey]string) {
	if len(ptrs) == 0 {
		return
	}
	var adds [numShards]int // an upper bound: changes
	for k := range ptrs {
		adds[shardOf(k[:])]++
	}
	live := ix.live.Load()
	var touched [numShards]*ptrShard
	for k, rels := range ptrs {
		s, ip := shardOf(k[:]), k.addr()
		p := touched[s]
		if p == nil {
			p = ix.ptrs[s].Load()
			if live {
				p = &ptrShard{v4: ownCopy(p.v4, adds[s]), v6: ownCopy(p.v6, adds[s])}
			}
			touched[s] = p
		}
		if p.set(ip, rels) {
			ix.names--
		}
		if rels != "" {
			ix.names++
		}
	}
	for s, p := range touched {
		if p != nil {
			ix.ptrs[s].Store(p)
		}
	}
}

// ownCopy is a copy of l with room for more entries, or nil if l is empty
// (an insert then allocates).
func ownCopy[K any](l []ptrAt[K], more int) []ptrAt[K] {
	if len(l) == 0 {
		return nil
	}
	return append(make([]ptrAt[K], 0, len(l)+more), l...)
}

// compactPTRs trims the lists the initial load grew in place to their
// length, before the index is published.
func (ix *index) compactPTRs() {
	for i := range ix.ptrs {
		p := ix.ptrs[i].Load()
		p.v4, p.v6 = slices.Clone(p.v4), slices.Clone(p.v6)
	}
}
