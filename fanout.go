package kubesvc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// informer is what shared.go asks of an informer: client-go's shared
// informer has it too.
type informer interface {
	AddEventHandler(cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error)
	RemoveEventHandler(cache.ResourceEventHandlerRegistration) error
	SetTransform(cache.TransformFunc) error
	SetWatchErrorHandlerWithContext(cache.WatchErrorHandlerWithContext) error
	HasSynced() bool
	RunWithContext(ctx context.Context)
}

// fanout is the informers' implementation: client-go's reflector (run by
// its controller) with a store that hands each change to every subscribed
// handler in turn, in the reflector's goroutine (fanoutStore).
// client-go's shared informer queues each change for a goroutine of its
// own, and hands it from there to a goroutine of each handler's through
// two channels and a buffer: three more goroutine switches an event, on
// the path of every change to the answers. The handlers here only update
// the index under the watcher's lock.
//
// A handler subscribed after the informer started is first handed what the
// store holds, under the lock processing holds, so that it misses no event
// and gets none twice.
type fanout struct {
	lw      cache.ListerWatcher
	objType runtime.Object

	mu sync.Mutex // items and handlers: processing and subscribing
	// items are the objects the informer holds, by storeKey: all that an
	// update's old object, a relist's deletions and a late subscriber's
	// replay need (client-go's store keeps indexes kubesvc never asks). A
	// keyTable, as the objects carry their keys (items.go): about 16 bytes
	// an object where a map[string]any took 64.
	items    items
	handlers []*fanoutReg
	// A streamed list applied in place (listinplace.go): the objects it
	// listed so far, and the resource version of the Replace that marks
	// its end.
	listing   *items
	listedRV  string
	transform cache.TransformFunc
	onError   cache.WatchErrorHandlerWithContext
	started   bool

	synced    chan struct{} // closed once the first list is handed out
	closed    chan struct{} // closed when the informer stops
	closeOnce sync.Once
}

// newFanout is an informer of lw's objects, which objType's type names in
// logs (the reflector is not told it: see RunWithContext); its signature
// is client-go's shared informer's constructor's (resync and indexers are
// not used: kubesvc resyncs nothing and looks nothing up).
func newFanout(lw cache.ListerWatcher, objType runtime.Object, _ time.Duration, _ cache.Indexers) informer {
	return &fanout{lw: lw, objType: objType, synced: make(chan struct{}), closed: make(chan struct{})}
}

// storeKey is the informers' key of an object: the "namespace/name" an
// object of kubesvc's carries (objMeta), without building it again (a
// string per object, for as long as the object is held); client-go's
// otherwise. Every object an informer holds is transformed before it is
// keyed (a list's too, in Replace), so the two never meet for one object.
func storeKey(obj any) (string, error) {
	if o, ok := obj.(interface{ storeKey() string }); ok {
		return o.storeKey(), nil
	}
	return cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
}

// itemStoreKey is storeKey of an object the items hold: one that has a key.
func itemStoreKey(obj any) string {
	key, _ := storeKey(obj)
	return key
}

var errStarted = errors.New("the informer has already started")

func (f *fanout) SetTransform(t cache.TransformFunc) error {
	return f.beforeStart(func() { f.transform = t })
}

func (f *fanout) SetWatchErrorHandlerWithContext(h cache.WatchErrorHandlerWithContext) error {
	return f.beforeStart(func() { f.onError = h })
}

// beforeStart calls set unless the informer has started: what it sets is
// read when it starts.
func (f *fanout) beforeStart(set func()) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		return errStarted
	}
	set()
	return nil
}

// HasSynced reports whether the initial list has been processed, every
// handler subscribed by then handed all of it.
func (f *fanout) HasSynced() bool {
	select {
	case <-f.synced:
		return true
	default:
		return false
	}
}

// RunWithContext lists and watches until ctx ends; a second run does nothing.
func (f *fanout) RunWithContext(ctx context.Context) {
	f.mu.Lock()
	if f.started {
		f.mu.Unlock()
		return
	}
	f.started = true
	f.mu.Unlock()
	// client-go's controller, for its reflector and the watch error
	// handler it sets there; its queue is the store, whose Pop has nothing
	// to hand out: the store hands each change out itself.
	// No ObjectType: the reflector would drop every object of another
	// type than the API's, and the sparse decoder hands EndpointSlices
	// over as wireSlices (wireslice.go), fake clients as API objects; the
	// transforms take both.
	// A busy resource's watch applies its changes itself, through the
	// applier in its context (directwatch.go).
	ctx = withApplier(ctx, f)
	cache.New(&cache.Config{
		Queue:                        (*fanoutStore)(f),
		ListerWatcher:                f.lw,
		ObjectDescription:            fmt.Sprintf("%T", f.objType),
		Process:                      func(any, bool) error { return nil },
		WatchErrorHandlerWithContext: f.onError,
	}).RunWithContext(ctx)
}

// fanoutStore is the reflector's store: each change it is handed is
// transformed, applied to the items and handed to every handler at once,
// in the reflector's goroutine. client-go's informers queue changes for a
// goroutine of their own (a DeltaFIFO's map cost about 90 B an object
// after the initial list, a RealFIFO's array about 40): one more
// goroutine switch an event, on the path of every change to the answers.
type fanoutStore fanout

// Transformer makes the reflector transform a streamed list's objects as
// they come (its temporary store would hold them whole otherwise).
func (s *fanoutStore) Transformer() cache.TransformFunc { return s.transform }

func (s *fanoutStore) Add(obj any) error    { return (*fanout)(s).change(obj, false) }
func (s *fanoutStore) Update(obj any) error { return (*fanout)(s).change(obj, false) }
func (s *fanoutStore) Delete(obj any) error { return (*fanout)(s).change(obj, true) }
func (s *fanoutStore) Resync() error        { return nil } // kubesvc resyncs nothing

// Pop waits until the store is closed: changes are handed out as they come.
func (s *fanoutStore) Pop(cache.PopProcessFunc) (any, error) {
	<-s.closed
	return nil, cache.ErrFIFOClosed
}

// Close ends Pop's wait, when the informer stops.
func (s *fanoutStore) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

func (s *fanoutStore) HasSynced() bool                     { return (*fanout)(s).HasSynced() }
func (s *fanoutStore) HasSyncedChecker() cache.DoneChecker { return fanoutSynced{(*fanout)(s)} }

// Replace is a list: the first one's objects are the initial list. A
// streamed list applied in place ends with one (listinplace.go).
func (s *fanoutStore) Replace(objs []any, rv string) error {
	f := (*fanout)(s)
	for i, obj := range objs {
		t, err := f.transformed(obj)
		if err != nil {
			return err
		}
		objs[i] = t
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	initial := !f.HasSynced()
	f.listing = nil // what a list cut before its end listed (listinplace.go)
	if f.endsListInPlace(rv) {
		for _, obj := range objs {
			if err := f.put(obj, initial); err != nil {
				return err
			}
		}
	} else if err := f.replaceAll(objs, initial); err != nil {
		return err
	}
	if initial {
		close(f.synced)
	}
	return nil
}

// transformed is obj transformed. A streamed list's objects come
// transformed already (Transformer); the transforms hand their own
// objects back as they are.
func (f *fanout) transformed(obj any) (any, error) {
	if f.transform == nil {
		return obj, nil
	}
	return f.transform(obj)
}

// change applies one watch event's object to the items and hands it to
// every handler, as client-go's informers do.
func (f *fanout) change(obj any, deleted bool) error {
	obj, err := f.transformed(obj)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !deleted {
		return f.put(obj, false)
	}
	key, err := storeKey(obj)
	if err != nil {
		return err
	}
	f.items.Delete(key)
	for _, r := range f.handlers {
		r.h.OnDelete(obj)
	}
	return nil
}

// put adds or updates obj, handing it to the handlers.
func (f *fanout) put(obj any, isInInitialList bool) error {
	if _, err := storeKey(obj); err != nil {
		return err
	}
	old, exists := f.items.Set(obj)
	for _, r := range f.handlers {
		if exists {
			r.h.OnUpdate(old, obj)
		} else {
			r.h.OnAdd(obj, isInInitialList)
		}
	}
	return nil
}

// replaceAll makes objs, a whole list, the items: the handlers are handed
// first a tombstone of each item the list no longer has (a deletion missed
// while the watch was down), then each listed object as an update of the
// item it replaces or an addition, as client-go's informers do.
func (f *fanout) replaceAll(objs []any, isInInitialList bool) error {
	var listed items
	if len(objs) > 0 {
		listed.reserve(len(objs), objs[0])
	}
	for _, obj := range objs {
		if _, err := storeKey(obj); err != nil {
			return err
		}
		listed.Set(obj)
	}
	f.dropUnlisted(&listed)
	for _, obj := range objs {
		if err := f.put(obj, isInInitialList); err != nil {
			return err
		}
	}
	return nil
}

// AddEventHandler subscribes h, handing it the store's objects first.
func (f *fanout) AddEventHandler(h cache.ResourceEventHandler) (cache.ResourceEventHandlerRegistration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for obj := range f.items.All() {
		h.OnAdd(obj, true)
	}
	r := &fanoutReg{f: f, h: h}
	f.handlers = append(f.handlers, r)
	return r, nil
}

// RemoveEventHandler unsubscribes a registration AddEventHandler returned.
func (f *fanout) RemoveEventHandler(reg cache.ResourceEventHandlerRegistration) error {
	r, ok := reg.(*fanoutReg)
	if !ok || r.f != f {
		return errors.New("not a registration of this informer")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers = slices.DeleteFunc(f.handlers, func(x *fanoutReg) bool { return x == r })
	return nil
}

// fanoutReg is a subscription: it has synced when its informer has, as it
// was handed the store when it subscribed.
type fanoutReg struct {
	f *fanout
	h cache.ResourceEventHandler
}

func (r *fanoutReg) HasSynced() bool { return r.f.HasSynced() }

// HasSyncedChecker is done when HasSynced is true, even for a
// registration made before the informer runs.
func (r *fanoutReg) HasSyncedChecker() cache.DoneChecker { return fanoutSynced{r.f} }

type fanoutSynced struct{ f *fanout }

func (s fanoutSynced) Name() string          { return "kubesvc informer of " + fmt.Sprintf("%T", s.f.objType) }
func (s fanoutSynced) Done() <-chan struct{} { return s.f.synced }
