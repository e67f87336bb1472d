package kubesvc

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// kind is the part of an entry's answers a query type selects.
type kind uint8

const (
	kA kind = iota
	kAAAA
	kSRV
	kPTR
	kCNAME
	kTXT
	kExtra // no query type: the additional section of SRV answers
	numKinds
)

// kindOf maps a query type to the answers that serve it.
func kindOf(qtype uint16) (kind, bool) {
	switch qtype {
	case dns.TypeA:
		return kA, true
	case dns.TypeAAAA:
		return kAAAA, true
	case dns.TypeSRV:
		return kSRV, true
	case dns.TypePTR:
		return kPTR, true
	case dns.TypeCNAME:
		return kCNAME, true
	case dns.TypeTXT:
		return kTXT, true
	}
	return 0, false
}

// entry holds the ready-made answers of one name: the names of the zones
// themselves (dns-version, the parents of services' names, ns.dns); a
// service's names are answered from svcs (see svcindex.go). Entries are built
// by the watcher when the data changes and never modified after they are
// published, so queries share them without copying. An entry without records is a name
// that exists only as the parent of others (an empty non-terminal). Entries
// are kept small, there are several per service: the slice header is all
// there is. The answers are rrs, grouped by kind in kind order, so a kind's
// records are found by binary search; the additional records of SRV answers
// sit past len(rrs), within its capacity.
type entry struct {
	rrs []dns.RR
}

// emptyNonTerminal is the one entry every parent-only name shares.
var emptyNonTerminal = &entry{}

// maxPerKind bounds the records one name keeps of each kind: a 64 KiB
// message holds at most about 4,000 records, so nothing a client could
// receive is lost, and a huge object costs no more than that.
const maxPerKind = 9000

// answer returns the records of kind k. The slice's capacity is capped so a
// plugin that appends to a response cannot write into the shared entry.
func (e *entry) answer(k kind) []dns.RR {
	if k == kExtra {
		return e.extra()
	}
	rrs := e.all()
	if len(rrs) == 0 {
		return rrs
	}
	first, last := kindOfRR(rrs[0]), kindOfRR(rrs[len(rrs)-1])
	switch {
	case first == k && last == k: // one kind, as most names have
		return rrs
	case k < first || k > last:
		return rrs[:0:0]
	}
	lo := kindStart(rrs, k)
	hi := lo + kindStart(rrs[lo:], k+1)
	return rrs[lo:hi:hi]
}

// kindOfRR is the kind of an answer record. builder.add lets in only
// records of a kind, so any other type is a bug that would break the order
// answer searches: it is not filed under some kind, it panics.
func kindOfRR(rr dns.RR) kind {
	k, ok := kindOf(rr.Header().Rrtype)
	if !ok {
		panic(fmt.Sprintf("kubesvc: %s record in an index entry: %v", dns.TypeToString[rr.Header().Rrtype], rr))
	}
	return k
}

// kindStart is the index of the first record of kind k or a later kind.
func kindStart(rrs []dns.RR, k kind) int {
	i, _ := slices.BinarySearchFunc(rrs, k, func(rr dns.RR, k kind) int { return cmp.Compare(kindOfRR(rr), k) })
	return i
}

// all returns the answers of every kind, for ANY.
func (e *entry) all() []dns.RR {
	return e.rrs[:len(e.rrs):len(e.rrs)]
}

// extra returns the additional records of SRV answers.
func (e *entry) extra() []dns.RR {
	return e.rrs[len(e.rrs):cap(e.rrs):cap(e.rrs)]
}

// builder collects an entry's records before it is frozen.
type builder struct {
	by [numKinds][]dns.RR
}

// add files rr under k, which must be the kind of rr's type (kExtra aside):
// the entry finds its kinds again by the records' types. A record filed
// under another kind is a bug, which panics here, as the entry is built,
// rather than giving wrong answers from it.
func (b *builder) add(k kind, rr dns.RR) {
	if rk, ok := kindOf(rr.Header().Rrtype); k != kExtra && (!ok || rk != k) {
		panic(fmt.Sprintf("kubesvc: %s record filed as kind %d: %v", dns.TypeToString[rr.Header().Rrtype], k, rr))
	}
	b.by[k] = append(b.by[k], rr)
}

// same reports whether b and o hold the same records of every kind, in the
// same order: the entries they freeze answer alike.
func (b *builder) same(o *builder) bool {
	for k := range b.by {
		if !slices.EqualFunc(b.by[k], o.by[k], sameRR) {
			return false
		}
	}
	return true
}

// sameRR compares two records built by records: the same owner, type and
// data (dns.IsDuplicate), and the same TTL.
func sameRR(a, b dns.RR) bool {
	return a.Header().Ttl == b.Header().Ttl && dns.IsDuplicate(a, b)
}

func (b *builder) entry() *entry {
	n := 0
	for k := range b.by {
		b.by[k] = b.by[k][:min(len(b.by[k]), maxPerKind)]
		n += len(b.by[k])
	}
	if n == 0 {
		return emptyNonTerminal
	}
	rrs := make([]dns.RR, 0, n)
	for _, part := range b.by {
		rrs = append(rrs, part...)
	}
	return &entry{rrs: rrs[:n-len(b.by[kExtra])]}
}

const numShards = 256

// index maps lower-cased, fully qualified names to entries, and services and
// addresses to what answers for them (svcindex.go). Readers take no lock: each shard is an immutable map behind an atomic pointer, and the
// watcher (the only writer, serialised by its own mutex) publishes a change by
// copying the few shards it touches. Until the first sync nobody reads, so the
// initial load writes in place instead of copying a shard per object.
type index struct {
	shards [numShards]atomic.Pointer[map[string]*entry]
	// svcs holds the services, by "<service>.<namespace>", and ptrs the
	// reverse names of their addresses (svcindex.go): their answers are
	// built per query, so a change to a service replaces one value.
	svcs  [numShards]atomic.Pointer[keyTable[svcSlot]]
	ptrs  [numShards]atomic.Pointer[ptrShard]
	live  atomic.Bool // published: readers may look, writers must copy
	names int         // names held; written by commit only, under the caller's lock
	zones int         // forward zones: a service's names are in each
	// serial is the zones' SOA serial: when the index last changed, in Unix
	// seconds. It is published with the index, so readers need nothing
	// else; changes counts the changes apply published.
	serial  atomic.Uint32
	changes int
}

// newIndex makes an empty index for services named in zones forward zones.
func newIndex(zones int) *index {
	ix := &index{zones: zones}
	ix.serial.Store(uint32(time.Now().Unix()))
	for i := range ix.shards {
		m := map[string]*entry{}
		ix.shards[i].Store(&m)
		ix.svcs[i].Store(newKeyTable(slotKey))
		ix.ptrs[i].Store(newPTRShard())
	}
	return ix
}

// shardOf hashes a name (FNV-1a) to its shard.
func shardOf[T string | []byte](name T) int {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return int(h % numShards)
}

// get looks up a lower-cased name given as bytes, without allocating.
func (ix *index) get(name []byte) *entry {
	return (*ix.shards[shardOf(name)].Load())[string(name)]
}

// lookup is get for a string name.
func (ix *index) lookup(name string) *entry {
	return (*ix.shards[shardOf(name)].Load())[name]
}

// ready reports whether the index holds a complete view of the cluster.
func (ix *index) ready() bool { return ix.live.Load() }

// publish opens the index to readers; from then on changes copy shards.
func (ix *index) publish() {
	ix.compactPTRs()
	ix.live.Store(true)
}

// nextSerial is the SOA serial of a change made at now after one of serial
// last: now in Unix seconds, or one past last when that is not older
// (changes within a second). Every change gets a serial of its own, so that
// a secondary holding a serial is never told it is up to date after a change
// it did not get (RFC 1982 arithmetic: the serial may run ahead of the clock
// during a burst, and wraps).
func nextSerial(last uint32, now time.Time) uint32 {
	s := uint32(now.Unix())
	if int32(s-last) <= 0 {
		s = last + 1
	}
	return s
}

// apply sets the batch's entries (a nil entry deletes the name) and moves
// the SOA serial. The caller serialises calls.
func (ix *index) apply(batch map[string]*entry) { ix.commit(update{names: batch}) }

// commit publishes u and moves the SOA serial, unless u changes nothing a
// client can see. The caller serialises calls.
func (ix *index) commit(u update) {
	if !u.visible() {
		for _, c := range u.svcs {
			ix.setService(c.key, c.ref) // a new object answering alike
		}
		return // the SOA serial stays
	}
	ix.changes++
	defer ix.serial.Store(nextSerial(ix.serial.Load(), time.Now())) // once the change is readable
	for _, c := range u.svcs {
		ix.setService(c.key, c.ref)
	}
	ix.setPTRs(u.ptrs)
	ix.setNames(u.names)
}

// setNames sets the batch's entries (a nil entry deletes the name).
func (ix *index) setNames(batch map[string]*entry) {
	if len(batch) == 0 {
		return // most changes: services answer from their records (svcindex.go)
	}
	if !ix.live.Load() {
		for name, e := range batch {
			ix.names += setOrDelete(*ix.shards[shardOf(name)].Load(), name, e)
		}
		return
	}
	var touched [numShards]*map[string]*entry // copies, each published once
	for name, e := range batch {
		s := shardOf(name)
		if touched[s] == nil {
			m := maps.Clone(*ix.shards[s].Load())
			touched[s] = &m
		}
		ix.names += setOrDelete(*touched[s], name, e)
	}
	for s := range touched {
		if touched[s] != nil {
			ix.shards[s].Store(touched[s])
		}
	}
}

// setOrDelete applies one change and returns how it moved the name count.
func setOrDelete(m map[string]*entry, name string, e *entry) int {
	_, had := m[name]
	switch {
	case e == nil && had:
		delete(m, name)
		return -1
	case e != nil:
		m[name] = e
		if !had {
			return 1
		}
	}
	return 0
}

// size is the number of names in the index, kept by apply rather than
// counted over the shards on every change. Callers hold the writer's lock.
func (ix *index) size() int { return ix.names }

// view is the index's shards, each loaded once. A shard is an immutable map,
// so a view can be read at leisure; it sees each shard as it stood at one
// instant, and the whole index at one instant only if no change was
// published while it was taken (transfer takes it under the writer's lock).
// The headless records, replaced in their cells, are loaded into the view
// too.
type view struct {
	names [numShards]map[string]*entry
	svcs  [numShards]*keyTable[svcSlot]
	hs    map[*hsCell]*hsRecord
	ptrs  [numShards]*ptrShard
}

// view loads every shard. Only a published index may be viewed: before
// that, apply writes its shards in place.
func (ix *index) view() *view {
	v := &view{hs: map[*hsCell]*hsRecord{}}
	for i := range ix.shards {
		v.names[i] = *ix.shards[i].Load()
		v.svcs[i] = ix.svcs[i].Load()
		v.ptrs[i] = ix.ptrs[i].Load()
		for slot := range v.svcs[i].All() {
			if c := slot.cell(); c != nil {
				v.hs[c] = c.rec.Load()
			}
		}
	}
	return v
}

// services calls yield with every service of the view, by
// "<service>.<namespace>", in no order, until yield returns false.
func (v *view) services(yield func(key string, ref svcRef) bool) {
	for _, t := range v.svcs {
		for slot := range t.All() {
			ref := svcRef{svc: slot.svc()}
			if c := slot.cell(); c != nil {
				ref = svcRef{hs: v.hs[c]}
			}
			if !yield(slotKey(slot), ref) {
				return
			}
		}
	}
}

// each calls yield with every name of the view and its entry, in no order,
// until yield returns false.
func (v *view) each(yield func(name string, e *entry) bool) {
	for _, m := range v.names {
		for name, e := range m {
			if !yield(name, e) {
				return
			}
		}
	}
}

// get is the entry of a lower-cased name in the view, or nil.
func (v *view) get(name string) *entry { return v.names[shardOf(name)][name] }
