package kubesvc

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"
)

// The services' part of the index. A service is kept as it came from the
// informer (a ClusterIP or ExternalName service) or as its compact headless
// record, by "<service>.<namespace>"; the reverse names of its addresses
// are kept by address, as the names their PTR records point at. Queries
// build the records they answer with from these (svcanswer.go,
// headlessanswer.go, reverse.go), so that a service costs the index a map
// entry or two rather than ready-made records for every name it owns, and
// a change to it replaces one value.

// svcRef is what the index holds of a service: svc for a ClusterIP or
// ExternalName service (the informer's object, never modified), hs for a
// headless one.
type svcRef struct {
	svc *service
	hs  *hsRecord
}

func (r svcRef) exists() bool { return r.svc != nil || r.hs != nil }

// svcSlot is a service's value in its shard's map. A ClusterIP or
// ExternalName service is held as it is and replaced by copying the shard
// (its object changes seldom: its endpoints are not in the index). A
// headless record is held in a cell of its own and replaced in place: its
// endpoints change all day, and a shard holds about 400 services at
// 100,000, so a readiness flip would otherwise copy a map that grows with
// the cluster. A slot never changes from one kind to the other in place.
//
// The shard is a keyTable of slots: a slot's key is its service's, or its
// cell's (the headless record holds none).
//
// A slot is one word, the service's or the cell's address: a cell's with 1
// added, which still points into the cell (so the collector keeps it) and
// which no service's address is (objects are word-aligned). Two pointers
// took 16 bytes a slot, 14 more a service with the table's spare slots.
type svcSlot struct {
	p unsafe.Pointer
}

func serviceSlot(s *service) svcSlot { return svcSlot{unsafe.Pointer(s)} }
func cellSlot(c *hsCell) svcSlot     { return svcSlot{unsafe.Add(unsafe.Pointer(c), 1)} }

// cell is the slot's headless cell, or nil.
func (s svcSlot) cell() *hsCell {
	if uintptr(s.p)&1 == 0 {
		return nil
	}
	return (*hsCell)(unsafe.Add(s.p, -1))
}

// svc is the slot's ClusterIP or ExternalName service, or nil.
func (s svcSlot) svc() *service {
	if uintptr(s.p)&1 != 0 {
		return nil
	}
	return (*service)(s.p)
}

// hsCell is where a headless service's record is replaced.
type hsCell struct {
	key string // "<service>.<namespace>"
	rec atomic.Pointer[hsRecord]
}

// slotKey is the index's key of a slot's service.
func slotKey(s svcSlot) string {
	if c := s.cell(); c != nil {
		return c.key
	}
	return s.svc().indexKey()
}

// ref is what the slot holds now.
func (s svcSlot) ref() svcRef {
	if c := s.cell(); c != nil {
		return svcRef{hs: c.rec.Load()}
	}
	return svcRef{svc: s.svc()}
}

// names is how many names the service owns in one zone, for index_names.
func (r svcRef) names() int {
	switch {
	case r.hs != nil:
		return r.hs.names
	case r.svc != nil && r.svc.kind == kindClusterIP:
		n, protos := 1, 0
		for i, p := range r.svc.ports() {
			if named(p) {
				n++
				if !slices.ContainsFunc(r.svc.ports()[:i], func(q port) bool { return named(q) && q.proto == p.proto }) {
					protos++
				}
			}
		}
		return n + protos
	case r.svc != nil:
		return 1
	}
	return 0
}

// ptrKey is an address as a map key: IPv4 as IPv4-mapped IPv6.
type ptrKey [16]byte

func keyOf(ip netip.Addr) ptrKey { return ip.As16() }

// addr is the address of a key.
func (k ptrKey) addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

// update is one change the watcher publishes.
type update struct {
	names map[string]*entry // nil: the name is gone
	svcs  []svcChange
	ptrs  map[ptrKey]string // the names each address's PTR records point at (see targets); "": gone
}

// svcChange replaces what the index holds of one service.
type svcChange struct {
	key     string // "<service>.<namespace>"
	ref     svcRef // zero: none
	visible bool   // false: a new object that answers as the old one did
}

// visible reports whether u changes an answer: only then does the SOA
// serial move.
func (u *update) visible() bool {
	if len(u.names) > 0 || len(u.ptrs) > 0 {
		return true
	}
	for _, c := range u.svcs {
		if c.visible {
			return true
		}
	}
	return false
}

// service is what the index holds of the service "<service>.<namespace>",
// given as bytes, without allocating.
func (ix *index) service(key []byte) svcRef {
	slot, _ := ix.svcs[shardOf(key)].Load().GetBytes(key)
	return slot.ref()
}

// serviceNamed is service for a string key.
func (ix *index) serviceNamed(key string) svcRef {
	slot, _ := ix.svcs[shardOf(key)].Load().Get(key)
	return slot.ref()
}

// serviceUnder finds the service a lower-cased name of forward zone zone
// is, or is under: what the index holds of it and where the service's name
// starts in name (0 for the service's own name).
func (ix *index) serviceUnder(name []byte, zone string) (svcRef, int) {
	rel := name // the labels before the zone, with the dot that ends them
	if zone != "." {
		rel = name[:len(name)-len(zone)]
	}
	const svc = ".svc."
	if !bytes.HasSuffix(rel, []byte(svc)) {
		return svcRef{}, 0
	}
	rel = rel[:len(rel)-len(svc)]          // [<prefix>.]<service>.<namespace>
	nsDot := bytes.LastIndexByte(rel, '.') // the dot before the namespace
	if nsDot < 0 {
		return svcRef{}, 0
	}
	start := bytes.LastIndexByte(rel[:nsDot], '.') + 1 // where the service's name starts
	return ix.service(rel[start:]), start
}

// targets are the names, relative to ".svc.<zone>", that the PTR records of
// ip point at, sorted and separated by spaces; "" if it has none. Most
// addresses have one, a cluster IP's the index's key of its service: the
// index then holds no string of its own for it. A name "/<service>.<namespace>"
// stands for "<ip dashed>.<service>.<namespace>", the name of a headless
// service's member without a hostname, made when asked: all of a service's
// such members share one string.
func (ix *index) targets(ip netip.Addr) string {
	k := keyOf(ip)
	return ix.ptrs[shardOf(k[:])].Load().get(ip)
}

// setService replaces what the index holds of one service: a headless
// record in its cell, anything else by copying its shard once the index is
// published (see svcSlot).
func (ix *index) setService(key string, ref svcRef) {
	s := shardOf(key)
	t := ix.svcs[s].Load()
	old, _ := t.Get(key)
	ix.names += ix.zones * (ref.names() - old.ref().names())
	if c := old.cell(); c != nil && ref.hs != nil {
		c.rec.Store(ref.hs)
		return
	}
	if ix.live.Load() {
		t = t.Clone()
	}
	switch {
	case ref.hs != nil:
		cell := &hsCell{key: key}
		cell.rec.Store(ref.hs)
		t.Set(cellSlot(cell))
	case ref.svc != nil:
		t.Set(serviceSlot(ref.svc))
	default:
		t.Delete(key)
	}
	ix.svcs[s].Store(t)
}

// splitTargets are the names of a targets string, in a slice of their own.
func splitTargets(rels string) []string {
	if rels == "" {
		return nil
	}
	return strings.Split(rels, " ")
}

// joinTargets is the targets string of sorted names: the one name itself if
// there is one.
func joinTargets(rels []string) string {
	if len(rels) == 1 {
		return rels[0]
	}
	return strings.Join(rels, " ")
}
