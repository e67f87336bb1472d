package kubesvc

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// A busy resource's streamed list (sendInitialEvents, as client-go's
// reflectors list) is applied to the informer's items as it is read
// (directwatch.go), where the reflector would gather it whole first.
//
// The reflector keeps a streamed list in a temporary store (a map of every
// object by a key string of its own), makes a slice of it at the list's
// end and hands that to the store's Replace, which tells the objects the
// list no longer has by a table of the listed ones: while the old objects
// are still held, three more copies of the whole list's references live at
// once, at the height of a relist after an API server restart. Applied in
// place, each listed object replaces its item at once (an update to the
// handlers, as Replace made it), the keys listed are kept in a table of one
// word an object, and at the list's end the items it did not have are
// deleted (a tombstone to the handlers, as Replace did). The reflector,
// handed none of the list's objects, then replaces the store with an
// empty list of the list's resource version, which marks the end of the
// list applied in place and deletes nothing.
//
// A list cut before its end deletes nothing: what it applied are objects as
// they were listed, and the reflector lists again.

// applier applies a watch's events to an informer's store, as the
// reflector's calls of the store would: the informer's fanout.
type applier interface {
	// apply applies a change: watch.Added, Modified or Deleted.
	apply(typ watch.EventType, obj runtime.Object) error
	// listStart starts a streamed list applied in place, forgetting what
	// a list cut before its end had listed.
	listStart()
	// listed applies an object of the list.
	listed(obj runtime.Object) error
	// listEnd deletes the items the list did not have; the store's next
	// Replace of resource version rv is the list's end.
	listEnd(rv string)
}

func (f *fanout) apply(typ watch.EventType, obj runtime.Object) error {
	return f.change(obj, typ == watch.Deleted)
}

func (f *fanout) listStart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listing = &items{}
	if n := f.items.Len(); n > 0 {
		for obj := range f.items.All() { // as many as there were, like them
			f.listing.reserve(n, obj)
			break
		}
	}
	f.listedRV = ""
}

func (f *fanout) listed(obj runtime.Object) error {
	t, err := f.transformed(obj)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listing == nil {
		f.listing = &items{}
	}
	if err := f.put(t, !f.HasSynced()); err != nil {
		return err
	}
	f.listing.Set(t)
	return nil
}

func (f *fanout) listEnd(rv string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listing == nil {
		f.listing = &items{}
	}
	f.dropUnlisted(f.listing)
	f.listing, f.listedRV = nil, rv
}

// dropUnlisted deletes the items listed does not have (deletions missed
// while the watch was down), handing each handler a tombstone of each.
func (f *fanout) dropUnlisted(listed *items) {
	var gone []any
	for old := range f.items.All() {
		if _, ok := listed.Get(itemStoreKey(old)); !ok {
			gone = append(gone, old)
		}
	}
	for _, old := range gone {
		key := itemStoreKey(old)
		f.items.Delete(key)
		for _, r := range f.handlers {
			r.h.OnDelete(cache.DeletedFinalStateUnknown{Key: key, Obj: old})
		}
	}
}

// endsListInPlace reports whether a Replace at resource version rv is the
// end of the list applied in place (its objects, if any, are then put
// without deleting anything), and forgets that list.
func (f *fanout) endsListInPlace(rv string) bool {
	end := f.listedRV != "" && rv == f.listedRV
	f.listedRV = ""
	return end
}
