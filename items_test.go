package kubesvc

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// An informer's items hold services in a table of one-word slots, and hold
// what a map would through random sets and deletes, also after an object
// of another type turned the table into one of interfaces.
func TestItemsHoldWhatAMapHoldsAcrossTypes(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var it items
	want := map[string]any{}
	obj := func(i int, slice bool) any {
		key := fmt.Sprintf("ns/obj-%d", i)
		if slice {
			return &endpointSlice{objMeta: keyMeta(key, 0)}
		}
		return &service{objMeta: keyMeta(key, 0)}
	}
	for step := range 4000 {
		if step == 2000 {
			if _, typed := it.t.(typedItems[*service]); !typed {
				t.Fatalf("items of services only are held as %T, want typedItems[*service]", it.t)
			}
		}
		i := rnd.IntN(300)
		key := fmt.Sprintf("ns/obj-%d", i)
		switch {
		case rnd.IntN(3) == 0:
			old, deleted := it.Delete(key)
			if w, ok := want[key]; ok != deleted || old != w {
				t.Fatalf("step %d: Delete(%s) = %v, %v; want %v, %v", step, key, old, deleted, w, ok)
			}
			delete(want, key)
		default:
			o := obj(i, step > 3000 && rnd.IntN(4) == 0)
			old, replaced := it.Set(o)
			if w, ok := want[key]; ok != replaced || old != w {
				t.Fatalf("step %d: Set(%s) replaced %v, %v; want %v, %v", step, key, old, replaced, w, ok)
			}
			want[key] = o
		}
	}
	if _, wide := it.t.(anyItems); !wide {
		t.Errorf("items of services and slices are held as %T, want anyItems", it.t)
	}
	if it.Len() != len(want) {
		t.Errorf("Len() = %d, want %d", it.Len(), len(want))
	}
	seen := 0
	for o := range it.All() {
		if key := itemStoreKey(o); want[key] != o {
			t.Errorf("All() yields %v for %s, want %v", o, key, want[key])
		}
		seen++
	}
	if seen != len(want) {
		t.Errorf("All() yields %d objects, want %d", seen, len(want))
	}
	for key, w := range want {
		if got, ok := it.Get(key); !ok || got != w {
			t.Errorf("Get(%s) = %v, %v; want %v", key, got, ok, w)
		}
	}
}
