package kubesvc

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// watcher is the index's only writer: informer events for Services and
// EndpointSlices come in, and for each the names of the one service it
// touches are rebuilt and published.
type watcher struct {
	rec records
	ix  *index

	mu sync.Mutex
	// svcs are the states by "namespace/name" (a map took 10 bytes more
	// a service), but for the services the index holds as they are with
	// no slices (most ClusterIP services): their state is the index's
	// (implicit, settle).
	svcs    *keyTable[*svcState]
	nsCount map[string]int // services (imports) per nsScope: <ns>.svc.<zone> exists while > 0
	counted int            // names this watcher added to the index_names gauge
	stopped bool           // stop took its share out of the gauges (a second stop takes nothing)
	pods    bool           // pods insecure: <namespace>.pod.<zone> names exist

	// namespace_labels: only the services of the namespaces in served are
	// published; members files every state by namespace, so that a
	// namespace that starts or stops matching finds its services at once.
	filterNamespaces bool
	served           map[string]bool
	members          map[string]map[string]*svcState

	watched []*resource // the resources start watches, for the synced gauges
	ext     *extIndex   // k8s_external's data, if a block uses it (external_watch.go)

	cancel context.CancelFunc
	done   sync.WaitGroup
	// firstSync is closed once the index is first published; replay says
	// that every informer had synced before start subscribed (informers.go).
	firstSync chan struct{}
	replay    bool
}

func newWatcher(rec records, pods bool) *watcher {
	w := &watcher{
		rec:     rec,
		ix:      newIndex(len(rec.zones)),
		svcs:    newKeyTable(stateKey),
		nsCount: map[string]int{},
		pods:    pods,
		served:  map[string]bool{},
		members: map[string]map[string]*svcState{},
	}
	w.ix.apply(rec.zoneRecords(pods))
	return w
}

// setService records s (nil: deleted) under key and republishes its names.
func (w *watcher) setService(key string, s *service) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return // its share is out of the gauges, and nobody asks its index
	}
	st := w.state(key)
	before := w.published(st)
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
	if !s.is(svcBadExternalName) {
		warnedExternalNames.Delete(key)
		return
	}
	if last, seen := warnedExternalNames.Swap(key, s.externalName()); seen && last == s.externalName() {
		return
	}
	log.Warningf("service %s: externalName %q is not a DNS name; it gets no CNAME", key, s.externalName())
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
	if w.stopped {
		return
	}
	if held, _ := w.svcs.Get(key); gone != nil && (held == nil || held.slice(name) == nil || held.slice(name).watch != gone.watch) {
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
	edit := &sliceEdit{old: st.slice(name), now: sl}
	if answered {
		before = w.published(st)
	}
	st.setSlice(name, sl)
	switch {
	case answered:
		w.rebuildAfter(key, st, before, map[string]*entry{}, edit)
	case st.svc == nil && len(st.slices()) == 0:
		w.forget(key)
	default:
		w.settle(key, st)
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
func (w *watcher) owned(st *svcState) *owned { return w.ownedAfter(st, nil, nil) }

// ownedAfter is owned, which takes what it can again from prev, the
// service's headless record before the change (nil: none), and edit, the
// change (nil: unknown).
func (w *watcher) ownedAfter(st *svcState, prev *hsRecord, edit *sliceEdit) *owned {
	if st.svc == nil || !w.serves(st.svc.namespace()) {
		return &owned{}
	}
	return w.rec.service(st.svc, st.slices(), prev, edit)
}

// published is what st published: owned, with a headless service's record
// taken from the index rather than merged again from its slices. (An
// import's names are ready-made, and made again: see serviceImport.)
func (w *watcher) published(st *svcState) *owned {
	if st.svc == nil || st.svc.kind != kindHeadless || st.svc.is(svcImported) || !w.serves(st.svc.namespace()) {
		return w.owned(st)
	}
	o := &owned{ref: w.ix.serviceNamed(st.svc.indexKey())}
	if o.ref.hs != nil {
		o.endpoints = o.ref.hs.addrs
	}
	return o
}

// rebuild recomputes what st owns, publishes the difference with what it
// owned before, and forgets st once nothing is left of it.
func (w *watcher) rebuild(key string, st *svcState, before *owned, batch map[string]*entry) {
	w.rebuildAfter(key, st, before, batch, nil)
}

// rebuildAfter is rebuild after edit (nil: unknown), one slice's change.
func (w *watcher) rebuildAfter(key string, st *svcState, before *owned, batch map[string]*entry, edit *sliceEdit) {
	start := time.Now()
	defer func() { indexUpdate.Observe(time.Since(start).Seconds()) }()
	w.publishExternal(key, st)
	now := w.ownedAfter(st, before.ref.hs, edit)
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
	u := update{names: batch}
	ikey := cmp.Or(now.key, before.key) // the string the index keeps already, if it keeps one
	if ikey == "" {
		ikey = indexKey(key)
	}
	oldRefs, newRefs := before.ptrs, now.ptrs
	if !sameHeadless(before.ref.hs, now.ref.hs) {
		gone, came := hsRefDiff(before.ref.hs, now.ref.hs, ikey, w.rec.zones[0])
		oldRefs, newRefs = append(slices.Clip(oldRefs), gone...), append(slices.Clip(newRefs), came...)
	}
	if before.ref != now.ref {
		u.svcs = []svcChange{{key: ikey, ref: now.ref, visible: !sameRef(before.ref, now.ref)}}
	}
	u.ptrs = w.repoint(oldRefs, newRefs)
	indexEndpoints.Add(float64(now.endpoints - before.endpoints))
	if st.svc == nil && len(st.slices()) == 0 {
		w.forget(key)
	}
	w.ix.commit(u)
	w.settle(key, st)
	w.countNames()
}

// sameRef reports whether a and b answer alike.
func sameRef(a, b svcRef) bool {
	switch {
	case a.hs != nil || b.hs != nil:
		return sameHeadless(a.hs, b.hs)
	case a.svc == nil || b.svc == nil:
		return a.svc == b.svc
	}
	x, y := a.svc, b.svc
	return x.kind == y.kind && x.externalName() == y.externalName() && x.is(svcBadExternalName) == y.is(svcBadExternalName) &&
		sameIPs(x, y) && slices.Equal(x.ports(), y.ports())
}

// sameIPs reports whether x and y have the same cluster IPs.
func sameIPs(x, y *service) bool {
	if x.numIPs() != y.numIPs() {
		return false
	}
	for i := range x.numIPs() {
		if x.clusterIP(i) != y.clusterIP(i) {
			return false
		}
	}
	return true
}

// countNames brings this watcher's share of the index_names gauge up to
// date. The gauge is the sum over the plugin's instances (server blocks, or
// the old and the new one during a reload), not the last one's count.
func (w *watcher) countNames() {
	indexNames.Add(float64(w.ix.size() - w.counted))
	w.counted = w.ix.size()
}

// repoint is the change to the reverse names of the addresses a service
// stops or starts referring to (old, refs): each address's new list of the
// names its PTR records point at. An address can have several owners (one
// pod behind two headless services, a cluster IP reused before the old
// service's deletion arrives); each owner refers to it with a name of its
// own, so the lists tell the owners apart, and nothing else needs to
// remember them.
func (w *watcher) repoint(old, refs []ptrRef) map[ptrKey]string {
	if slices.Equal(old, refs) {
		return nil
	}
	lists := map[ptrKey][]string{}
	current := func(ip netip.Addr) []string {
		if rels, ok := lists[keyOf(ip)]; ok {
			return rels
		}
		return splitTargets(w.ix.targets(ip)) // a copy: the index's strings are never modified
	}
	// Only the references that come or go are touched: a service keeping
	// most of its endpoints republishes none of their reverse names.
	was, is := newRefSet(old), newRefSet(refs)
	for _, ref := range old {
		if !is.has(ref) {
			lists[keyOf(ref.ip)] = slices.DeleteFunc(current(ref.ip), func(t string) bool { return t == ref.rel })
		}
	}
	for _, ref := range refs {
		if was.has(ref) {
			continue
		}
		if rels := current(ref.ip); !slices.Contains(rels, ref.rel) {
			rels = append(rels, ref.rel)
			slices.Sort(rels) // the same order whichever owner came first, on every replica
			lists[keyOf(ref.ip)] = rels
		}
	}
	out := make(map[ptrKey]string, len(lists))
	for k, rels := range lists {
		out[k] = joinTargets(rels)
	}
	return out
}

// refSet answers whether a service's list of reverse references holds one:
// by scanning a short list (a ClusterIP service's one or two: no map to
// build and hash into), by a map for a long one (a headless service's).
type refSet struct {
	short []ptrRef
	m     map[ptrRef]bool
}

// shortRefs is the longest list a refSet scans.
const shortRefs = 8

func newRefSet(refs []ptrRef) refSet {
	if len(refs) <= shortRefs {
		return refSet{short: refs}
	}
	m := make(map[ptrRef]bool, len(refs))
	for _, ref := range refs {
		m[ref] = true
	}
	return refSet{m: m}
}

func (s refSet) has(ref ptrRef) bool {
	if s.m != nil {
		return s.m[ref]
	}
	return slices.Contains(s.short, ref)
}
