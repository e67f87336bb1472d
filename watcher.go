package kubesvc

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// watcher is the index's only writer: informer events for Services and
// EndpointSlices come in, and for each the names of the one service it
// touches are rebuilt and published.
type watcher struct {
	rec records
	ix  *index

	mu      sync.Mutex
	svcs    map[string]*svcState // by "namespace/name"
	nsCount map[string]int       // services (imports) per nsScope: <ns>.svc.<zone> exists while > 0
	counted int                  // names this watcher added to the index_names gauge
	pods    bool                 // pods insecure: <namespace>.pod.<zone> names exist

	// namespace_labels: only the services of the namespaces in served are
	// published; members files every state by namespace, so that a
	// namespace that starts or stops matching finds its services at once.
	filterNamespaces bool
	served           map[string]bool
	members          map[string]map[string]*svcState

	watched []*resource // the resources start watches, for the synced gauges

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// svcState is a service and its slices as last seen. What it published is
// not kept: it is computed again from the state before a change, which costs
// an event's worth of CPU and saves memory on every service.
type svcState struct {
	svc    *service                  // nil while only slices are known
	slices map[string]*endpointSlice // nil until a slice arrives
}

func newWatcher(rec records, pods bool) *watcher {
	w := &watcher{
		rec:     rec,
		ix:      newIndex(),
		svcs:    map[string]*svcState{},
		nsCount: map[string]int{},
		pods:    pods,
		served:  map[string]bool{},
		members: map[string]map[string]*svcState{},
	}
	w.ix.apply(rec.zoneRecords(pods))
	return w
}

func (w *watcher) state(key string) *svcState {
	st := w.svcs[key]
	if st == nil {
		st = &svcState{}
		w.svcs[key] = st
		w.join(key, st)
	}
	return st
}

// forget drops the state of a service of which nothing is left.
func (w *watcher) forget(key string) {
	delete(w.svcs, key)
	w.leave(key)
}

// setService records s (nil: deleted) under key and republishes its names.
func (w *watcher) setService(key string, s *service) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.state(key)
	before := w.owned(st)
	batch := map[string]*entry{}
	if (st.svc == nil) != (s == nil) {
		w.countNamespace(batch, nsScope(key), s != nil)
	}
	w.countService(st.svc, -1)
	w.countService(s, 1)
	st.svc = s
	w.rebuild(key, st, before, batch)
	warnInvalidExternalName(key, s)
}

// warnedExternalNames is the invalid externalName last warned of, by
// service key. It outlives the plugin instance: a reload starts a new one,
// which lists every service again, and the warning would come back with
// each reload as with each update of the service. A service is warned of
// again only when its externalName changes to another invalid value.
var warnedExternalNames sync.Map

// warnInvalidExternalName warns of s (nil: deleted), stored at key, if its
// externalName cannot be a CNAME's target and it was not warned of already.
func warnInvalidExternalName(key string, s *service) {
	if s == nil || s.kind != kindExternalName {
		warnedExternalNames.Delete(key)
		return
	}
	if _, ok := externalTarget(s.externalName); ok {
		warnedExternalNames.Delete(key)
		return
	}
	if last, seen := warnedExternalNames.Swap(key, s.externalName); seen && last == s.externalName {
		return
	}
	log.Warningf("service %s: externalName %q is not a DNS name; it gets no CNAME", key, s.externalName)
}

var kindNames = [numSvcKinds]string{kindClusterIP: "clusterip", kindHeadless: "headless", kindExternalName: "externalname"}

// setSlice records sl (nil: deleted) as slice name of the service at key.
func (w *watcher) setSlice(key, name string, sl *endpointSlice) { w.putSlice(key, name, sl, nil) }

// removeSlice forgets gone, a slice an informer no longer holds, unless the
// watcher holds it from another watch: with two slice watches
// (sliceSelectors), a slice whose labels move it from one to the other may
// arrive in the second before it leaves the first. (A deletion carries the
// resource version of the deletion, not of what the informer held.)
func (w *watcher) removeSlice(key string, gone *endpointSlice) {
	w.putSlice(key, gone.name(), nil, gone)
}

func (w *watcher) putSlice(key, name string, sl, gone *endpointSlice) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if held := w.svcs[key]; gone != nil && (held == nil || held.slices[name] == nil || held.slices[name].watch != gone.watch) {
		return // the watcher holds it from the other watch
	}
	st := w.state(key)
	// Only a headless service's answers are made of its endpoints; under
	// "ignore empty_service" a ClusterIP service's change when it gains its
	// first answering endpoint or loses its last. The slices of any other
	// are kept, for the service may become headless, but a change to them
	// publishes nothing and leaves the SOA serial be.
	answered := st.svc != nil && st.svc.kind == kindHeadless
	if st.svc != nil && st.svc.kind == kindClusterIP && w.rec.ignoreEmpty {
		answered = hasEndpointIn(st, "", nil) != hasEndpointIn(st, name, sl)
	}
	var before *owned
	if answered {
		before = w.owned(st)
	}
	if sl == nil {
		delete(st.slices, name)
	} else {
		if st.slices == nil {
			st.slices = map[string]*endpointSlice{}
		}
		st.slices[name] = sl
	}
	switch {
	case answered:
		w.rebuild(key, st, before, map[string]*entry{})
	case st.svc == nil && len(st.slices) == 0:
		w.forget(key)
	}
	if sl != nil && sl.trigger != 0 && st.svc != nil && w.ix.ready() {
		observeProgramming(st.svc, sl.trigger)
	}
}

func namespaceOf(key string) string {
	ns, _, _ := strings.Cut(key, "/")
	return ns
}

// countNamespace counts a service (an import) in or out of its namespace's
// scope (nsScope).
func (w *watcher) countNamespace(batch map[string]*entry, scope string, add bool) {
	before := w.nsCount[scope]
	if add {
		w.nsCount[scope]++
	} else {
		w.nsCount[scope]--
	}
	after := w.nsCount[scope]
	if after == 0 {
		delete(w.nsCount, scope)
	}
	if (before == 0) == (after == 0) || !w.serves(namespaceOf(scope)) {
		return
	}
	w.publishNamespace(batch, scope, after > 0)
}

// publishNamespace adds or removes <ns>.svc.<zone>, the parent of the
// names of the namespace's services (in the plugin's zones) or of its
// ServiceImports (in the multicluster zones): scope is an nsScope.
func (w *watcher) publishNamespace(batch map[string]*entry, scope string, add bool) {
	ns, imports := strings.CutSuffix(scope, importsScope)
	zones := w.rec.zones
	if imports {
		zones = w.rec.mcZones
	}
	for _, zone := range zones {
		if add {
			batch[within(ns+".svc", zone)] = emptyNonTerminal
		} else {
			batch[within(ns+".svc", zone)] = nil
		}
	}
}

// owned is what st publishes: nothing while its namespace is not served.
func (w *watcher) owned(st *svcState) *owned {
	if st.svc == nil || !w.serves(st.svc.namespace()) {
		return &owned{}
	}
	return w.rec.service(st.svc, sortedSlices(st.slices))
}

// rebuild recomputes what st owns, publishes the difference with what it
// owned before, and forgets st once nothing is left of it.
func (w *watcher) rebuild(key string, st *svcState, before *owned, batch map[string]*entry) {
	start := time.Now()
	defer func() { indexUpdate.Observe(time.Since(start).Seconds()) }()
	now := w.owned(st)
	for name := range before.names {
		if _, ok := now.names[name]; !ok {
			batch[name] = nil
		}
	}
	// Only names whose answers changed are published: the index then copies
	// the few shards they fall in, not one per name the service owns.
	for name, b := range now.names {
		if old, ok := before.names[name]; !ok || !old.same(b) {
			batch[name] = b.entry()
		}
	}
	w.repoint(before.ptrs, now.ptrs, batch)
	indexEndpoints.Add(float64(now.endpoints - before.endpoints))
	if st.svc == nil && len(st.slices) == 0 {
		w.forget(key)
	}
	if len(batch) == 0 {
		return // nothing a client can see changed: the SOA serial stays
	}
	w.ix.apply(batch)
	w.countNames()
}

// countNames brings this watcher's share of the index_names gauge up to
// date. The gauge is the sum over the plugin's instances (server blocks, or
// the old and the new one during a reload), not the last one's count.
func (w *watcher) countNames() {
	indexNames.Add(float64(w.ix.size() - w.counted))
	w.counted = w.ix.size()
}

func sortedSlices(m map[string]*endpointSlice) []*endpointSlice {
	out := make([]*endpointSlice, 0, len(m))
	for _, sl := range m {
		out = append(out, sl)
	}
	slices.SortFunc(out, func(a, b *endpointSlice) int { return strings.Compare(a.name(), b.name()) })
	return out
}

// repoint moves a service's reverse names from old to refs. A reverse name
// can have several owners (one pod behind two headless services, a cluster
// IP reused before the old service's deletion arrives). Each owner points it
// at a name of its own, so the PTR records in the index tell the owners
// apart, and nothing else needs to remember them.
func (w *watcher) repoint(old, refs []ptrRef, batch map[string]*entry) {
	if slices.Equal(old, refs) {
		return
	}
	targets := map[string][]string{} // reverse name -> its targets after the change
	current := func(name string) []string {
		if ts, ok := targets[name]; ok {
			return ts
		}
		var ts []string // a copy: the index's records are never modified
		if e := w.ix.lookup(name); e != nil {
			// A clusterset PTR that a cluster-local one hides waits in
			// the additional records (ptrRecords).
			for _, rr := range append(e.answer(kPTR), e.extra()...) {
				ts = append(ts, rr.(*dns.PTR).Ptr)
			}
		}
		return ts
	}
	// Only the references that come or go are touched: a service keeping
	// most of its endpoints republishes none of their reverse names.
	was, is := refSet(old), refSet(refs)
	for _, ref := range old {
		if !is[ref] {
			targets[ref.name] = slices.DeleteFunc(current(ref.name), func(t string) bool { return t == ref.target })
		}
	}
	for _, ref := range refs {
		if was[ref] {
			continue
		}
		if ts := current(ref.name); !slices.Contains(ts, ref.target) {
			targets[ref.name] = append(ts, ref.target)
		}
	}
	for name, ts := range targets {
		if len(ts) == 0 {
			batch[name] = nil
			continue
		}
		slices.Sort(ts) // the same order whichever owner came first, on every replica
		batch[name] = w.rec.ptrRecords(name, ts)
	}
}

func refSet(refs []ptrRef) map[ptrRef]bool {
	set := make(map[ptrRef]bool, len(refs))
	for _, ref := range refs {
		set[ref] = true
	}
	return set
}
