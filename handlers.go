package kubesvc

import "k8s.io/client-go/tools/cache"

// Informer event handlers. Objects arrive already transformed; a deletion
// may arrive as a tombstone.

func untomb(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

// replayed tells an update that changes nothing, as a relist after a lost
// watch delivers for every object, from a real one.
func replayed(old, now *objMeta) bool {
	return old.rv() != 0 && old.rv() == now.rv()
}

// unexpected logs an object the informer should not have delivered: the
// transforms make every object a *service, *endpointSlice or *namespace, so
// another type is a bug, and the object's names are missing from the index.
func unexpected(want string, obj any) {
	log.Errorf("an informer delivered a %T where a %s was expected; it is left out of the index", obj, want)
}

func (w *watcher) serviceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s, ok := obj.(*service); ok {
				w.setService(s.stateKey(), s)
			} else {
				unexpected("service", obj)
			}
		},
		UpdateFunc: func(old, obj any) {
			s, ok := obj.(*service)
			if !ok {
				unexpected("service", obj)
				return
			}
			if o, _ := old.(*service); o != nil && replayed(&o.objMeta, &s.objMeta) {
				return
			}
			w.setService(s.stateKey(), s)
		},
		DeleteFunc: func(obj any) {
			if s, ok := untomb(obj).(*service); ok {
				w.setService(s.stateKey(), nil)
			} else {
				unexpected("service", obj)
			}
		},
	}
}

func (w *watcher) sliceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			sl, ok := obj.(*endpointSlice)
			if !ok {
				unexpected("endpoint slice", obj)
				return
			}
			if sl.service != "" {
				w.setSlice(sl.serviceKey(), sl.name(), sl)
			}
		},
		UpdateFunc: func(old, obj any) {
			sl, ok := obj.(*endpointSlice)
			if !ok {
				unexpected("endpoint slice", obj)
				return
			}
			o, _ := old.(*endpointSlice)
			if o != nil && replayed(&o.objMeta, &sl.objMeta) {
				return
			}
			if o != nil && o.service != "" && o.service != sl.service {
				w.removeSlice(o.serviceKey(), o) // relabelled to another service
			}
			if sl.service != "" {
				w.setSlice(sl.serviceKey(), sl.name(), sl)
			}
		},
		DeleteFunc: func(obj any) {
			sl, ok := untomb(obj).(*endpointSlice)
			if !ok {
				unexpected("endpoint slice", obj)
				return
			}
			if sl.service != "" {
				w.removeSlice(sl.serviceKey(), sl)
			}
		},
	}
}
