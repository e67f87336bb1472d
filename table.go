package kubesvc

import (
	"encoding/binary"
	"hash/maphash"
	"iter"
	"math/bits"
	"unsafe"
)

// keyTable is a hash table of values that carry their own key (key): the
// informers' stores (fanout.go) and the index's services (svcindex.go),
// which hold one value per object of the cluster.
//
// A Go map's slot holds the key's string header (16 bytes) beside the
// value, in groups of eight filled to at most 7/8 and split when full: a
// map[string]any cost about 64 bytes a service. Here a slot is the value
// and one byte of its key's hash (0: empty), in open addressing with
// linear probing, filled to at most 7/8 and grown by doubling: 10 to 21
// bytes a value of 8 bytes, and a lookup reads the tags, eight at a time,
// before it reads a value. Deletion shifts the rest of the probe sequence
// back (no tombstones), and a table under 1/8 full halves.
//
// A table is not safe for concurrent use: the index publishes tables that
// are no longer written (clone), the informers write theirs under a lock.
type keyTable[V any] struct {
	tags []uint8 // per slot: 0 empty, else tagOf the key's hash
	vals []V
	n    int // values held
	key  func(V) string
}

// tableSeed seeds every table's hash: random per process, so that keys
// that collide cannot be chosen in advance.
var tableSeed = maphash.MakeSeed()

const minTableSize = 8 // slots; a power of two

// maxLoad8 is the eighths of its slots a table fills before it doubles:
// probes read eight tags at once (find), so a full table's longer probe
// sequences cost few reads, and a table costs 10 to 21 bytes a value of 8
// bytes (at 3/4 it was 12 to 24).
const maxLoad8 = 7

func newKeyTable[V any](key func(V) string) *keyTable[V] {
	return &keyTable[V]{key: key}
}

func tagOf(h uint64) uint8 { return uint8(h>>57) | 0x80 }

// reserve makes room for n values in all without growing again, as a
// map's size hint does.
func (t *keyTable[V]) reserve(n int) {
	size := max(minTableSize, len(t.tags))
	for n*8 > size*maxLoad8 {
		size *= 2
	}
	if size > len(t.tags) {
		t.resize(size)
	}
}

// Len is the number of values held.
func (t *keyTable[V]) Len() int { return t.n }

// find is the slot of key, or the empty slot where the probe for it ended
// (found false). The table must have slots. The probe reads the tags
// eight at a time where eight follow: a slot is empty where its tag's top
// bit is clear, and a tag that matches is one whose bytes XOR the sought
// tag are zero (the zero-byte test can also flag a byte above a zero
// one, which the comparison of keys then rejects).
func (t *keyTable[V]) find(key string, h uint64) (int, bool) {
	mask := len(t.tags) - 1
	tag := tagOf(h)
	for i := int(h) & mask; ; {
		if i+8 > len(t.tags) { // the last slots: one at a time, then around
			switch t.tags[i] {
			case 0:
				return i, false
			case tag:
				if t.key(t.vals[i]) == key {
					return i, true
				}
			}
			i = (i + 1) & mask
			continue
		}
		w := binary.LittleEndian.Uint64(t.tags[i:])
		empty := ^w & highBits
		x := w ^ (lowBits * uint64(tag))
		match := (x - lowBits) &^ x & highBits
		if empty != 0 { // only the slots before the first empty one
			match &= empty ^ (empty - 1)
		}
		for ; match != 0; match &= match - 1 {
			j := i + bits.TrailingZeros64(match)/8
			if t.tags[j] == tag && t.key(t.vals[j]) == key {
				return j, true
			}
		}
		if empty != 0 {
			return i + bits.TrailingZeros64(empty)/8, false
		}
		i = (i + 8) & mask
	}
}

const (
	lowBits  = 0x0101010101010101 // the low bit of each of eight tags
	highBits = 0x8080808080808080 // the top bit of each
)

// Get is the value of key.
func (t *keyTable[V]) Get(key string) (v V, ok bool) {
	if t.n == 0 {
		return v, false
	}
	if i, found := t.find(key, maphash.String(tableSeed, key)); found {
		return t.vals[i], true
	}
	return v, false
}

// GetBytes is Get for a key given as bytes, without allocating.
func (t *keyTable[V]) GetBytes(key []byte) (V, bool) {
	// The string is only compared, never kept.
	return t.Get(unsafe.String(unsafe.SliceData(key), len(key)))
}

// Set stores v under its key, and returns the value it replaced.
func (t *keyTable[V]) Set(v V) (old V, replaced bool) {
	if len(t.tags) == 0 {
		t.resize(minTableSize)
	}
	key := t.key(v)
	h := maphash.String(tableSeed, key)
	i, found := t.find(key, h)
	if found {
		old, t.vals[i] = t.vals[i], v
		return old, true
	}
	if (t.n+1)*8 > len(t.tags)*maxLoad8 {
		t.resize(2 * len(t.tags))
		i, _ = t.find(key, h)
	}
	t.tags[i], t.vals[i] = tagOf(h), v
	t.n++
	return old, false
}

// Delete removes the value of key, and returns it.
func (t *keyTable[V]) Delete(key string) (old V, deleted bool) {
	if t.n == 0 {
		return old, false
	}
	i, found := t.find(key, maphash.String(tableSeed, key))
	if !found {
		return old, false
	}
	old = t.vals[i]
	t.shiftBack(i)
	t.n--
	if t.n*8 < len(t.tags) && len(t.tags) > minTableSize {
		t.resize(len(t.tags) / 2)
	}
	return old, true
}

// shiftBack empties slot hole, moving back into it each later value of
// its probe sequence whose home slot is not between the hole and it, as a
// lookup of that value would otherwise stop at the hole.
func (t *keyTable[V]) shiftBack(hole int) {
	mask := len(t.tags) - 1
	var zero V
	for j := (hole + 1) & mask; t.tags[j] != 0; j = (j + 1) & mask {
		home := int(maphash.String(tableSeed, t.key(t.vals[j]))) & mask
		// Distances from home, around the end of the slots: the value
		// may move to the hole if the hole is no further from its home
		// than it is.
		if (hole-home)&mask <= (j-home)&mask {
			t.tags[hole], t.vals[hole] = t.tags[j], t.vals[j]
			hole = j
		}
	}
	t.tags[hole], t.vals[hole] = 0, zero
}

// resize moves the values into size slots.
func (t *keyTable[V]) resize(size int) {
	tags, vals := t.tags, t.vals
	t.tags, t.vals = make([]uint8, size), make([]V, size)
	mask := uint64(size - 1)
	for i, tag := range tags {
		if tag == 0 {
			continue
		}
		h := maphash.String(tableSeed, t.key(vals[i]))
		j := h & mask
		for t.tags[j] != 0 {
			j = (j + 1) & mask
		}
		t.tags[j], t.vals[j] = tag, vals[i]
	}
}

// Clone is a copy of t that shares no slots with it.
func (t *keyTable[V]) Clone() *keyTable[V] {
	c := *t
	c.tags, c.vals = append([]uint8(nil), t.tags...), append([]V(nil), t.vals...)
	return &c
}

// All yields every value, in no order. The table must not change during
// the iteration.
func (t *keyTable[V]) All() iter.Seq[V] {
	return func(yield func(V) bool) {
		for i, tag := range t.tags {
			if tag != 0 && !yield(t.vals[i]) {
				return
			}
		}
	}
}
