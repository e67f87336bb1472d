package kubesvc

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// k8s_external's maps hold what was set last for each key (nil or empty:
// none); a value replaced for a key that exists leaves its shard's map in
// place (a flip in a headless service copies nothing that grows with the
// cluster), while a key added or deleted replaces it.
func TestExternalMapHoldsTheLastSetAndCopiesOnlyForNewKeys(t *testing.T) {
	var m cowMap[[]string]
	m.init()
	want := map[string][]string{}
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := range 5000 {
		k := fmt.Sprintf("svc-%d.ns", rnd.IntN(300))
		var v []string
		if rnd.IntN(3) > 0 {
			v = []string{fmt.Sprint(i)}
		}
		shard := m.shards[shardOf(k)].Load()
		_, had := want[k]
		m.set(k, v)
		if v == nil {
			delete(want, k)
		} else {
			want[k] = v
		}
		_, has := want[k]
		if replaced := m.shards[shardOf(k)].Load() != shard; replaced != (had != has) {
			t.Fatalf("set %q (held before: %v, after: %v): shard replaced = %v", k, had, has, replaced)
		}
		if got := m.get(k); fmt.Sprint(got) != fmt.Sprint(want[k]) {
			t.Fatalf("get(%q) = %v after setting %v", k, got, v)
		}
	}
	n := 0
	m.each(func(k string, v []string) {
		n++
		if fmt.Sprint(v) != fmt.Sprint(want[k]) {
			t.Errorf("each gives %q = %v, want %v", k, v, want[k])
		}
	})
	if n != len(want) {
		t.Errorf("each gives %d keys, want %d", n, len(want))
	}
}
