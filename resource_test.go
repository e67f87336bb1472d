package kubesvc

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// Every description is whole: its object and list are in the minimal
// scheme (or the REST client could not decode them), its transform keeps
// an object the store can file and accepts its own output, and it has a
// handler, a selector and a contact gauge.
func TestResourceDescriptionsAreWhole(t *testing.T) {
	w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 5}, false)
	for _, r := range resources {
		for _, obj := range []runtime.Object{r.object, r.newList()} {
			if _, _, err := apiScheme.ObjectKinds(obj); err != nil {
				t.Errorf("%s: %T not in the scheme: %v", r.name, obj, err)
			}
		}
		obj := r.object.DeepCopyObject()
		m, err := meta.Accessor(obj)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		m.SetName("x")
		if r.namespaced {
			m.SetNamespace("ns")
		}
		small, err := r.transform(obj)
		if err != nil {
			t.Fatalf("%s: transform: %v", r.name, err)
		}
		if again, _ := r.transform(small); again != small {
			t.Errorf("%s: the transform changed its own output", r.name)
		}
		key, err := cache.MetaNamespaceKeyFunc(small)
		if want := map[bool]string{true: "ns/x", false: "x"}[r.namespaced]; err != nil || key != want {
			t.Errorf("%s: stored under %q (%v), want %q", r.name, key, err, want)
		}
		if r.handler(w) == nil || r.selector == nil || r.wanted == nil || r.contact == nil {
			t.Errorf("%s: description without handler, selector, wanted or contact", r.name)
		}
	}
}
