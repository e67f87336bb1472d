package kubesvc

import (
	"slices"
	"strings"
)

// svcState is a service and its slices as last seen. What it published is
// not kept: it is computed again from the state before a change, which costs
// an event's worth of CPU and saves memory on every service.
type svcState struct {
	key string   // "namespace/name"
	svc *service // nil while only slices are known
	// sls are its slices, sorted by name, as answers merge them: a list
	// costs a pointer a slice, where a map cost a few hundred bytes even
	// for one. nil without slices: most services have none here (see
	// sliceSelectors), and a slice header would cost each 16 bytes.
	sls *[]*endpointSlice
}

// stateKey is the watcher's key of a state.
func stateKey(st *svcState) string { return st.key }

// slices are st's slices, sorted by name. The list is the watcher's alone,
// read and changed under its lock.
func (st *svcState) slices() []*endpointSlice {
	if st.sls == nil {
		return nil
	}
	return *st.sls
}

// setSlice sets st's slice name to sl (nil: deleted).
func (st *svcState) setSlice(name string, sl *endpointSlice) {
	list := withSlice(st.slices(), name, sl)
	switch {
	case len(list) == 0:
		st.sls = nil
	case st.sls == nil:
		st.sls = new([]*endpointSlice) // here only: &list would move list to the heap on every call
		*st.sls = list
	default:
		*st.sls = list
	}
}

// slice is st's slice of that name, nil if none.
func (st *svcState) slice(name string) *endpointSlice {
	if i, ok := sliceIndex(st.slices(), name); ok {
		return st.slices()[i]
	}
	return nil
}

// sliceIndex is where slice name is, or would be, in sls; a binary search
// of its own: this runs on every slice event, as a map lookup did.
func sliceIndex(sls []*endpointSlice, name string) (int, bool) {
	if len(sls) == 0 {
		return 0, false
	}
	at := sls[0].nsLen() + 1 // where names start: a service's slices share its namespace
	lo, hi := 0, len(sls)
	for lo < hi {
		if m := int(uint(lo+hi) >> 1); sls[m].key()[at:] < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(sls) && sls[lo].key()[at:] == name
}

// withSlice is sls with slice name set to sl (nil: deleted), in place
// where it can be.
func withSlice(sls []*endpointSlice, name string, sl *endpointSlice) []*endpointSlice {
	switch i, found := sliceIndex(sls, name); {
	case found && sl != nil:
		sls[i] = sl
	case found && len(sls) == 1:
		return nil
	case found:
		return slices.Delete(sls, i, i+1)
	case sl != nil:
		return slices.Insert(sls, i, sl)
	}
	return sls
}

// state is the state of the service at key, made (from the index, if it
// holds the service) and kept until settle.
func (w *watcher) state(key string) *svcState {
	st, _ := w.svcs.Get(key)
	if st == nil {
		st = &svcState{key: key, svc: w.implicit(key)}
		w.svcs.Set(st)
		w.join(key, st)
	}
	return st
}

// implicit is the service at key of which the watcher keeps no state: the
// one the index holds under its name, if the index holds that service as
// it is (see settle). nil if none.
func (w *watcher) implicit(key string) *service {
	ns, name, ok := strings.Cut(key, "/")
	if !ok || w.filterNamespaces {
		return nil
	}
	var buf [128]byte // "<service>.<namespace>", without allocating
	ikey := append(append(append(buf[:0], name...), '.'), ns...)
	if s := w.ix.service(ikey).svc; s != nil && s.isAt(key) {
		return s
	}
	return nil
}

// settle drops st, the state of the service at key after a change, if the
// index holds all of it: a service without slices that the index holds as
// it is, which implicit finds again. A state costs a ClusterIP service
// about a fifth of what kubesvc holds of it; the services of namespaces
// that may stop being served (namespace_labels) keep theirs.
func (w *watcher) settle(key string, st *svcState) {
	if w.filterNamespaces || st.svc == nil || st.sls != nil || !st.svc.isAt(key) {
		return
	}
	if w.ix.serviceNamed(st.svc.indexKey()).svc == st.svc {
		w.svcs.Delete(key)
	}
}

// services yields every service the watcher holds, with or without a
// state, once each: those without are the index's services that have none
// (with namespace_labels every service keeps its state).
func (w *watcher) services(yield func(*svcState) bool) {
	for st := range w.svcs.All() {
		if !yield(st) {
			return
		}
	}
	if w.filterNamespaces {
		return
	}
	for i := range w.ix.svcs {
		for slot := range w.ix.svcs[i].Load().All() {
			if s := slot.svc(); s != nil {
				key := s.stateKey()
				if _, held := w.svcs.Get(key); !held && !yield(&svcState{key: key, svc: s}) {
					return
				}
			}
		}
	}
}

// forget drops the state of a service of which nothing is left.
func (w *watcher) forget(key string) {
	w.svcs.Delete(key)
	w.leave(key)
}
