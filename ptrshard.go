package kubesvc

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"
	"unsafe"
)

// ptrShard is one shard of the reverse names: for each address, the names
// its PTR records point at (see index.targets). Each family is a list
// sorted by address, IPv4 apart (most addresses are): an IPv4 address costs
// the 16 bytes of its entry, where a map's slot, spare slots and growth
// cost about 70 (BenchmarkSyncMemory). A lookup is a binary search; PTR queries
// are few.
//
// Once published, a list is in chunks of about ptrChunk entries, and a
// change copies the chunks it touches only: a shard holds a few hundred
// addresses at 100,000 services, and a readiness flip, which adds or
// removes one, copies about 1.5 KB rather than the whole shard, whatever
// the cluster's size. A shard is immutable once published.
type ptrShard struct {
	v4 ptrList[uint32]
	v6 ptrList[ptrKey]
}

// ptrList is one family's entries, sorted by address, in chunks none of
// which is empty. Before the index is published it is one chunk, grown in
// place.
type ptrList[K any] struct {
	chunks [][]ptrAt[K]
	n      int
}

// ptrAt is one address and its targets (index.targets), a string held as
// its length and its bytes' address: an IPv4 entry then fits 16 bytes,
// where a string header after the 4-byte address took 24.
type ptrAt[K any] struct {
	ip    K
	nRels uint32 // a reverse name's targets are far from 4 GB
	pRels *byte
}

func newPTRAt[K any](ip K, rels string) ptrAt[K] {
	return ptrAt[K]{ip: ip, nRels: uint32(len(rels)), pRels: unsafe.StringData(rels)}
}

// rels is the targets.
func (e *ptrAt[K]) rels() string { return unsafe.String(e.pRels, e.nRels) }

// ptrChunk is the entries a published chunk is cut at; an edited chunk is
// cut again only past twice as many, and joins the one before it below
// half as many.
const ptrChunk = 64

func newPTRShard() *ptrShard { return &ptrShard{} }

func v4Key(ip netip.Addr) uint32 {
	a := ip.As4()
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func v4Addr(k uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)})
}

func compareV6(a, b ptrKey) int { return bytes.Compare(a[:], b[:]) }

// find is the targets of k in l, or "".
func (l *ptrList[K]) find(k K, compare func(K, K) int) string {
	// The first chunk whose last entry is not before k is the only one
	// that may hold it.
	c, _ := slices.BinarySearchFunc(l.chunks, k, func(c []ptrAt[K], k K) int { return compare(c[len(c)-1].ip, k) })
	if c == len(l.chunks) {
		return ""
	}
	if i, ok := slices.BinarySearchFunc(l.chunks[c], k, func(e ptrAt[K], k K) int { return compare(e.ip, k) }); ok {
		return l.chunks[c][i].rels()
	}
	return ""
}

// get is the targets of ip; an IPv4-mapped address is the IPv4 one, as
// the index keys them (keyOf).
func (p *ptrShard) get(ip netip.Addr) string {
	if ip = ip.Unmap(); ip.Is4() {
		return p.v4.find(v4Key(ip), cmp.Compare[uint32])
	}
	return p.v6.find(keyOf(ip), compareV6)
}

func (p *ptrShard) len() int { return p.v4.n + p.v6.n }

// each calls yield with every address of the shard and its targets.
func (p *ptrShard) each(yield func(ip netip.Addr, rels string)) {
	for _, c := range p.v4.chunks {
		for _, e := range c {
			yield(v4Addr(e.ip), e.rels())
		}
	}
	for _, c := range p.v6.chunks {
		for _, e := range c {
			yield(e.ip.addr(), e.rels())
		}
	}
}

// setInPlace sets or ("") deletes the targets of k in an unpublished list,
// and reports whether k had some before.
func (l *ptrList[K]) setInPlace(k K, rels string, compare func(K, K) int) bool {
	if len(l.chunks) == 0 {
		if rels == "" {
			return false
		}
		l.chunks = [][]ptrAt[K]{nil}
	}
	c := l.chunks[0]
	i, had := slices.BinarySearchFunc(c, k, func(e ptrAt[K], k K) int { return compare(e.ip, k) })
	switch {
	case had && rels == "":
		c = slices.Delete(c, i, i+1)
		l.n--
	case had:
		c[i] = newPTRAt(k, rels)
	case rels != "":
		c = slices.Insert(c, i, newPTRAt(k, rels))
		l.n++
	}
	if l.chunks[0] = c; len(c) == 0 {
		l.chunks = nil
	}
	return had
}

// patched is l with changes applied (sorted by address, one each; ""
// deletes), sharing every chunk they do not touch. l itself is not
// modified.
func (l *ptrList[K]) patched(changes []ptrAt[K], compare func(K, K) int) ptrList[K] {
	out := ptrList[K]{chunks: make([][]ptrAt[K], 0, len(l.chunks)+1)}
	next := 0
	for i, c := range l.chunks {
		end := next // the changes that fall in c: up to its last address, or all that are left
		for end < len(changes) && (i == len(l.chunks)-1 || compare(changes[end].ip, c[len(c)-1].ip) <= 0) {
			end++
		}
		if end == next {
			out.chunks = append(out.chunks, c)
			out.n += len(c)
			continue
		}
		merged := mergePTRs(c, changes[next:end], compare)
		if last := len(out.chunks) - 1; last >= 0 && len(merged) > 0 && len(merged) < ptrChunk/2 {
			// A chunk left small joins the one before it: else deletions
			// would leave ever more, ever smaller chunks (a new pod's
			// address lands in the last one, in order, while the others
			// thin out), and every change copies the list of them.
			prev := out.chunks[last]
			out.chunks, out.n = out.chunks[:last], out.n-len(prev)
			merged = append(append(make([]ptrAt[K], 0, len(prev)+len(merged)), prev...), merged...)
		}
		out.addCut(merged)
		next = end
	}
	if next < len(changes) { // an empty list
		out.addCut(mergePTRs(nil, changes[next:], compare))
	}
	return out
}

// mergePTRs is a new chunk of c's entries with changes applied.
func mergePTRs[K any](c, changes []ptrAt[K], compare func(K, K) int) []ptrAt[K] {
	out := make([]ptrAt[K], 0, len(c)+len(changes))
	i := 0
	for _, ch := range changes {
		for i < len(c) && compare(c[i].ip, ch.ip) < 0 {
			out = append(out, c[i])
			i++
		}
		if i < len(c) && compare(c[i].ip, ch.ip) == 0 {
			i++ // replaced or deleted
		}
		if ch.nRels > 0 {
			out = append(out, ch)
		}
	}
	return append(out, c[i:]...)
}

// addCut appends entries to l as chunks, each in an array of its own (a
// chunk replaced later frees its own memory): cut evenly into chunks of
// ptrChunk to twice as many entries if there are more than twice as many,
// so that no piece is left small.
func (l *ptrList[K]) addCut(entries []ptrAt[K]) {
	l.n += len(entries)
	if len(entries) <= 2*ptrChunk {
		if len(entries) > 0 {
			l.chunks = append(l.chunks, entries)
		}
		return
	}
	pieces := len(entries) / ptrChunk
	for p := range pieces {
		l.chunks = append(l.chunks, slices.Clone(entries[p*len(entries)/pieces:(p+1)*len(entries)/pieces]))
	}
}

// setPTRs sets the names each address's PTR records point at ("": it has
// none). Before the index is published, the shards' lists are edited in
// place; after, each touched shard is replaced by a patched copy, once for
// all of its changes.
func (ix *index) setPTRs(ptrs map[ptrKey]string) {
	if len(ptrs) == 0 {
		return
	}
	if !ix.live.Load() {
		for k, rels := range ptrs {
			if ix.ptrs[shardOf(k[:])].Load().setInPlace(k.addr(), rels) {
				ix.names--
			}
			if rels != "" {
				ix.names++
			}
		}
		return
	}
	type change struct {
		shard int
		k     ptrKey
		rels  string
	}
	changes := make([]change, 0, len(ptrs))
	for k, rels := range ptrs {
		changes = append(changes, change{shardOf(k[:]), k, rels})
	}
	slices.SortFunc(changes, func(a, b change) int { return cmp.Compare(a.shard, b.shard) })
	for len(changes) > 0 {
		s, n := changes[0].shard, 1
		for n < len(changes) && changes[n].shard == s {
			n++
		}
		var v4 []ptrAt[uint32]
		var v6 []ptrAt[ptrKey]
		for _, c := range changes[:n] {
			if ip := c.k.addr(); ip.Is4() {
				v4 = append(v4, newPTRAt(v4Key(ip), c.rels))
			} else {
				v6 = append(v6, newPTRAt(c.k, c.rels))
			}
		}
		old := ix.ptrs[s].Load()
		ix.ptrs[s].Store(&ptrShard{
			v4: patchFamily(old.v4, v4, cmp.Compare[uint32], &ix.names),
			v6: patchFamily(old.v6, v6, compareV6, &ix.names),
		})
		changes = changes[n:]
	}
}

// patchFamily is l patched with changes, in any order, moving the name
// count by the addresses they add and remove.
func patchFamily[K any](l ptrList[K], changes []ptrAt[K], compare func(K, K) int, names *int) ptrList[K] {
	if len(changes) == 0 {
		return l
	}
	slices.SortFunc(changes, func(a, b ptrAt[K]) int { return compare(a.ip, b.ip) })
	out := l.patched(changes, compare)
	*names += out.n - l.n
	return out
}

// setInPlace sets ip's targets in an unpublished shard.
func (p *ptrShard) setInPlace(ip netip.Addr, rels string) bool {
	if ip.Is4() {
		return p.v4.setInPlace(v4Key(ip), rels, cmp.Compare[uint32])
	}
	return p.v6.setInPlace(keyOf(ip), rels, compareV6)
}

// compactPTRs cuts the lists the initial load grew in place into chunks of
// their own, before the index is published.
func (ix *index) compactPTRs() {
	for i := range ix.ptrs {
		p := ix.ptrs[i].Load()
		p.v4, p.v6 = p.v4.compacted(), p.v6.compacted()
	}
}

// compacted is l in chunks as addCut cuts them, each in an array of its
// own, so that no spare room of the initial load's growth is kept.
func (l ptrList[K]) compacted() ptrList[K] {
	var out ptrList[K]
	for _, c := range l.chunks {
		if len(c) <= 2*ptrChunk {
			c = slices.Clone(c)
		}
		out.addCut(c)
	}
	return out
}
