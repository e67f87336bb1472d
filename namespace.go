package kubesvc

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// namespace_labels: the Namespace informer lists and watches only the
// namespaces whose labels match (the API server filters), so a namespace in
// its store is one whose names are served. Nothing else of it is kept.

// namespace is what DNS needs of a v1.Namespace: its name.
type namespace struct {
	objMeta
}

// DeepCopyObject returns the object itself: stored objects are never mutated.
func (n *namespace) DeepCopyObject() runtime.Object { return n }

// toNamespace is the Namespace informer's transform.
func toNamespace(obj any) (any, error) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return obj, nil
	}
	return &namespace{objMeta: newObjMeta(&ns.ObjectMeta)}, nil
}

// namespaceHandler is made only when namespaces are watched, before any
// informer runs: from then on the watcher serves only the namespaces it
// hears of.
func (w *watcher) namespaceHandler() cache.ResourceEventHandler {
	w.mu.Lock()
	w.filterNamespaces = true
	w.mu.Unlock()
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n, ok := obj.(*namespace); ok {
				w.setNamespace(n.name(), true)
			} else {
				unexpected("namespace", obj)
			}
		},
		// An update keeps a namespace that still matches: one that stops
		// matching is deleted from the filtered watch.
		UpdateFunc: func(_, obj any) {
			if n, ok := obj.(*namespace); ok {
				w.setNamespace(n.name(), true)
			} else {
				unexpected("namespace", obj)
			}
		},
		DeleteFunc: func(obj any) {
			if n, ok := untomb(obj).(*namespace); ok {
				w.setNamespace(n.name(), false)
			} else {
				unexpected("namespace", obj)
			}
		},
	}
}

// serves reports whether the names of namespace ns are published. Callers
// hold mu.
func (w *watcher) serves(ns string) bool {
	return !w.filterNamespaces || w.served[ns]
}

// countService adds n to the services gauge for s (nil: none), if s is
// served: a service of a namespace namespace_labels leaves out is not in the
// index.
func (w *watcher) countService(s *service, n float64) {
	if s != nil && !s.is(svcImported) && w.serves(s.namespace()) {
		servicesOfKind[s.kind].Add(n)
	}
}

// setNamespace serves the names of namespace ns or stops serving them: its
// services, their reverse names, <ns>.svc.<zone> and, with pods insecure,
// <ns>.pod.<zone>.
func (w *watcher) setNamespace(ns string, served bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.served[ns] == served {
		return
	}
	before := make(map[string]*owned, len(w.members[ns]))
	for key, st := range w.members[ns] {
		before[key] = w.owned(st)
		w.countService(st.svc, -1)
	}
	if served {
		w.served[ns] = true
	} else {
		delete(w.served, ns)
	}
	for _, st := range w.members[ns] {
		w.countService(st.svc, 1)
	}
	batch := map[string]*entry{}
	for _, scope := range []string{ns, ns + importsScope} {
		if w.nsCount[scope] > 0 {
			w.publishNamespace(batch, scope, served)
		}
	}
	if w.pods {
		for _, zone := range w.rec.forward() {
			batch[within(ns+".pod", zone)] = nil
			if served {
				batch[within(ns+".pod", zone)] = emptyNonTerminal
			}
		}
	}
	for key, st := range w.members[ns] {
		w.rebuild(key, st, before[key], batch)
		batch = map[string]*entry{}
	}
	w.publishExternalNamespace(ns)
	if len(batch) > 0 { // a namespace without services
		w.ix.apply(batch)
		w.countNames()
	}
}

// join files a new state under its namespace, for setNamespace.
func (w *watcher) join(key string, st *svcState) {
	if !w.filterNamespaces {
		return
	}
	ns := namespaceOf(key)
	if w.members[ns] == nil {
		w.members[ns] = map[string]*svcState{}
	}
	w.members[ns][key] = st
}

// leave takes a forgotten state out of its namespace's members.
func (w *watcher) leave(key string) {
	if !w.filterNamespaces {
		return
	}
	ns := namespaceOf(key)
	delete(w.members[ns], key)
	if len(w.members[ns]) == 0 {
		delete(w.members, ns)
	}
}
