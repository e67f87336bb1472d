package kubesvc

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

type tableItem struct{ k, v string }

func itemKey(it *tableItem) string { return it.k }

// TestKeyTableHoldsWhatAMapHolds runs random sets and deletes on tables
// and maps side by side, with few keys in few slots so that probe
// sequences wrap around the end and deletions shift values back across
// it, and many so that tables grow and shrink.
func TestKeyTableHoldsWhatAMapHolds(t *testing.T) {
	for _, keys := range []int{3, 10, 40, 1000} {
		t.Run(fmt.Sprint(keys), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(keys), 7))
			tab, want := newKeyTable(itemKey), map[string]string{}
			for op := range 40 * keys {
				k := fmt.Sprint("key-", r.IntN(keys))
				if r.IntN(3) == 0 || op > 30*keys { // the last quarter mostly deletes: the table shrinks
					old, ok := tab.Delete(k)
					if w, wok := want[k]; ok != wok || ok && old.v != w {
						t.Fatalf("op %d: Delete(%q) = %v, %v; the map held %q, %v", op, k, old, ok, w, wok)
					}
					delete(want, k)
				} else {
					v := fmt.Sprint(op)
					old, ok := tab.Set(&tableItem{k, v})
					if w, wok := want[k]; ok != wok || ok && old.v != w {
						t.Fatalf("op %d: Set(%q) replaced %v, %v; the map held %q, %v", op, k, old, ok, w, wok)
					}
					want[k] = v
				}
				if tab.Len() != len(want) {
					t.Fatalf("op %d: Len() = %d, the map holds %d", op, tab.Len(), len(want))
				}
				if op%(keys/3+1) == 0 {
					checkTable(t, tab, want, keys)
				}
			}
			checkTable(t, tab, want, keys)
			if len(want) == 0 && len(tab.tags) > minTableSize {
				t.Errorf("an empty table kept %d slots", len(tab.tags))
			}
		})
	}
}

// checkTable finds every key of want in tab with its value, no other key,
// and each value once in All.
func checkTable(t *testing.T, tab *keyTable[*tableItem], want map[string]string, keys int) {
	t.Helper()
	for i := range keys {
		k := fmt.Sprint("key-", i)
		got, ok := tab.Get(k)
		w, wok := want[k]
		if ok != wok || ok && got.v != w {
			t.Fatalf("Get(%q) = %v, %v; the map holds %q, %v", k, got, ok, w, wok)
		}
		if gb, ok := tab.GetBytes([]byte(k)); ok != wok || ok && gb != got {
			t.Fatalf("GetBytes(%q) = %v, %v; Get found %v", k, gb, ok, got)
		}
	}
	seen := map[string]bool{}
	for it := range tab.All() {
		if seen[it.k] || want[it.k] != it.v {
			t.Fatalf("All yielded %v (seen before: %v); the map holds %q", it, seen[it.k], want[it.k])
		}
		seen[it.k] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("All yielded %d values, the map holds %d", len(seen), len(want))
	}
	if n := len(tab.tags); n > 0 && tab.Len()*8 > n*maxLoad8 {
		t.Fatalf("%d values in %d slots: over %d/8 full", tab.Len(), n, maxLoad8)
	}
}

// A table that reserved room for n values takes them without growing.
func TestKeyTableReservedTakesThatManyWithoutGrowing(t *testing.T) {
	for _, n := range []int{0, 1, 6, 7, 100, 1000} {
		tab := newKeyTable(itemKey)
		tab.reserve(n)
		size := len(tab.tags)
		for i := range n {
			tab.Set(&tableItem{fmt.Sprint(i), ""})
		}
		if len(tab.tags) != size || tab.Len() != n {
			t.Errorf("reserved %d: %d slots, %d after setting %d values (%d held)", n, size, len(tab.tags), n, tab.Len())
		}
	}
}

func TestKeyTableCloneSharesNoSlots(t *testing.T) {
	tab := newKeyTable(itemKey)
	tab.Set(&tableItem{"a", "1"})
	c := tab.Clone()
	c.Set(&tableItem{"a", "2"})
	c.Set(&tableItem{"b", "3"})
	if got, _ := tab.Get("a"); got.v != "1" || tab.Len() != 1 {
		t.Errorf("after changing the clone the table holds a=%v and %d values, want a=1 and 1", got, tab.Len())
	}
	if got, _ := c.Get("a"); got.v != "2" || c.Len() != 2 {
		t.Errorf("the clone holds a=%v and %d values, want a=2 and 2", got, c.Len())
	}
}

func TestKeyTableLookupsDoNotAllocate(t *testing.T) {
	tab := newKeyTable(itemKey)
	for i := range 100 {
		tab.Set(&tableItem{fmt.Sprint("svc-", i, ".ns"), ""})
	}
	name := []byte("svc-42.ns")
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := tab.GetBytes(name); !ok {
			t.Fatal("svc-42.ns not found")
		}
	}); n != 0 {
		t.Errorf("GetBytes allocated %v times a lookup", n)
	}
}

// BenchmarkKeyTableGet looks up keys held and keys not held in a table as
// full as it gets before it grows.
func BenchmarkKeyTableGet(b *testing.B) {
	fits := newKeyTable(itemKey) // how many values 4096 slots take
	for i := 0; len(fits.tags) <= 4096; i++ {
		fits.Set(&tableItem{fmt.Sprint("svc-", i, ".ns"), ""})
	}
	n := fits.Len() - 1
	tab := newKeyTable(itemKey)
	for i := range n {
		tab.Set(&tableItem{fmt.Sprint("svc-", i, ".ns"), ""})
	}
	held, missing := make([][]byte, 1024), make([][]byte, 1024)
	for i := range held {
		held[i] = fmt.Append(nil, "svc-", i*n/len(held), ".ns")
		missing[i] = fmt.Append(nil, "other-", i, ".ns")
	}
	b.Logf("%d values in %d slots", tab.Len(), len(tab.tags))
	for _, c := range []struct {
		name string
		keys [][]byte
		want bool
	}{{"Held", held, true}, {"Missing", missing, false}} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, ok := tab.GetBytes(c.keys[i&1023]); ok != c.want {
					b.Fatalf("%s: found %v", c.keys[i&1023], ok)
				}
				i++
			}
		})
	}
}
