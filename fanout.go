package kubesvc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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

// fanout is the informers' implementation: client-go's controller (its
// reflector and RealFIFO, as client-go's shared informer has) with a process function that updates the store
// and calls every subscribed handler in turn, in the queue's goroutine.
// client-go's shared informer hands each event to a goroutine of each
// handler's, through two channels and a buffer: two more goroutine
// switches an event, on the path of every change to the answers (stock
// CoreDNS's informers call their handler in the queue's goroutine too).
// The handlers here only update the index under the watcher's lock.
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
	// replay need (client-go's store keeps indexes kubesvc never asks).
	items     map[string]any
	handlers  []*fanoutReg
	transform cache.TransformFunc
	onError   cache.WatchErrorHandlerWithContext
	started   bool

	queue  atomic.Pointer[cache.RealFIFO] // set when it runs
	synced chan struct{}                  // closed once HasSynced
}

// newFanout is an informer of lw's objects of objType's type; its
// signature is client-go's shared informer's constructor's (resync and
// indexers are not used: kubesvc resyncs nothing and looks nothing up).
func newFanout(lw cache.ListerWatcher, objType runtime.Object, _ time.Duration, _ cache.Indexers) informer {
	return &fanout{lw: lw, objType: objType, items: map[string]any{}, synced: make(chan struct{})}
}

// storeKey is the informers' key of an object: the "namespace/name" an
// object of kubesvc's carries (objMeta), without building it again (a
// string per object, for as long as the object is held); client-go's
// otherwise. Every object an informer holds is transformed before it is
// keyed (AtomicEvents: even a relist's), so the two never meet for one
// object.
func storeKey(obj any) (string, error) {
	if o, ok := obj.(interface{ storeKey() string }); ok {
		return o.storeKey(), nil
	}
	return cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
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
	q := f.queue.Load()
	return q != nil && q.HasSynced() // the queue processes under its lock: no item is half handed out
}

// RunWithContext lists and watches until ctx ends; a second run does nothing.
func (f *fanout) RunWithContext(ctx context.Context) {
	f.mu.Lock()
	if f.started {
		f.mu.Unlock()
		return
	}
	f.started = true
	// A RealFIFO, not a DeltaFIFO: the DeltaFIFO's map of pending items
	// grows to the whole initial list and keeps its size (about 90 B an
	// object in BenchmarkSyncMemory). Its atomic events hand over a list
	// as one item: a delta a listed object would keep the queue's array
	// at the list's length (about 40 B an object) until as many changes
	// came again.
	q := cache.NewRealFIFOWithOptions(cache.RealFIFOOptions{
		KeyFunction:  storeKey,
		Transformer:  f.transform,
		AtomicEvents: true,
	})
	f.queue.Store(q)
	cfg := &cache.Config{
		Queue:                        q,
		ListerWatcher:                f.lw,
		ObjectType:                   f.objType,
		Process:                      f.process,
		WatchErrorHandlerWithContext: f.onError,
	}
	f.mu.Unlock()
	go func() {
		select {
		case <-q.HasSyncedChecker().Done():
			close(f.synced)
		case <-ctx.Done():
		}
	}()
	cache.New(cfg).RunWithContext(ctx)
}

// process applies one object's deltas, or a whole list's, to the items
// and hands each to every handler, as client-go's informers do.
func (f *fanout) process(obj any, isInInitialList bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range obj.(cache.Deltas) {
		switch d.Type {
		case cache.Sync, cache.Replaced, cache.Added, cache.Updated:
			if err := f.put(d.Object, isInInitialList); err != nil {
				return err
			}
		case cache.Deleted:
			key, err := storeKey(d.Object)
			if err != nil {
				return err
			}
			delete(f.items, key)
			for _, r := range f.handlers {
				r.h.OnDelete(d.Object)
			}
		case cache.ReplacedAll:
			info, ok := d.Object.(cache.ReplacedAllInfo)
			if !ok {
				return fmt.Errorf("a list came as %T", d.Object)
			}
			if err := f.replaceAll(info.Objects, isInInitialList); err != nil {
				return err
			}
		}
	}
	return nil
}

// put adds or updates obj, handing it to the handlers.
func (f *fanout) put(obj any, isInInitialList bool) error {
	key, err := storeKey(obj)
	if err != nil {
		return err
	}
	old, exists := f.items[key]
	f.items[key] = obj
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
	listed := make(map[string]any, len(objs))
	for _, obj := range objs {
		key, err := storeKey(obj)
		if err != nil {
			return err
		}
		listed[key] = obj
	}
	for key, old := range f.items {
		if _, ok := listed[key]; ok {
			continue
		}
		delete(f.items, key)
		for _, r := range f.handlers {
			r.h.OnDelete(cache.DeletedFinalStateUnknown{Key: key, Obj: old})
		}
	}
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
	for _, obj := range f.items {
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
