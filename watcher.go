package kubesvc

import (
	"context"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// watcher is the index's only writer: informer events for Services and
// EndpointSlices come in, and for each the names of the one service it
// touches are rebuilt and published.
type watcher struct {
	rec records
	ix  *index

	mu      sync.Mutex
	svcs    map[string]*svcState // by "namespace/name"
	nsCount map[string]int       // services per namespace: <ns>.svc.<zone> exists while > 0
	changed func()               // called after each published change, with mu held

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
	}
	w.ix.apply(rec.zoneRecords(pods))
	return w
}

func (w *watcher) state(key string) *svcState {
	st := w.svcs[key]
	if st == nil {
		st = &svcState{}
		w.svcs[key] = st
	}
	return st
}

// setService records s (nil: deleted) under key and republishes its names.
func (w *watcher) setService(key string, s *service) {
	w.mu.Lock()
	defer w.mu.Unlock()
	apiContact[0].SetToCurrentTime()
	st := w.state(key)
	before := w.owned(st)
	batch := map[string]*entry{}
	if ns := namespaceOf(key); (st.svc == nil) != (s == nil) {
		w.countNamespace(batch, ns, s != nil)
	}
	if st.svc != nil {
		indexServices.WithLabelValues(kindNames[st.svc.kind]).Dec()
	}
	if s != nil {
		indexServices.WithLabelValues(kindNames[s.kind]).Inc()
	}
	st.svc = s
	w.rebuild(key, st, before, batch)
}

var kindNames = [...]string{kindClusterIP: "clusterip", kindHeadless: "headless", kindExternalName: "externalname"}

// apiContact are the api_last_contact gauges of services and slices.
var apiContact = [2]prometheus.Gauge{
	apiLastContact.WithLabelValues("services"), apiLastContact.WithLabelValues("endpointslices"),
}

// setSlice records sl (nil: deleted) as slice name of the service at key.
func (w *watcher) setSlice(key, name string, sl *endpointSlice) {
	w.mu.Lock()
	defer w.mu.Unlock()
	apiContact[1].SetToCurrentTime()
	st := w.state(key)
	before := w.owned(st)
	if sl == nil {
		delete(st.slices, name)
	} else {
		if st.slices == nil {
			st.slices = map[string]*endpointSlice{}
		}
		st.slices[name] = sl
	}
	w.rebuild(key, st, before, map[string]*entry{})
	if sl != nil && sl.trigger != 0 && st.svc != nil && w.ix.ready() {
		programmingLatency.WithLabelValues(kindNames[st.svc.kind]).Observe(time.Since(time.Unix(0, sl.trigger)).Seconds())
	}
}

func namespaceOf(key string) string {
	ns, _, _ := strings.Cut(key, "/")
	return ns
}

func (w *watcher) countNamespace(batch map[string]*entry, ns string, add bool) {
	before := w.nsCount[ns]
	if add {
		w.nsCount[ns]++
	} else {
		w.nsCount[ns]--
	}
	after := w.nsCount[ns]
	if after == 0 {
		delete(w.nsCount, ns)
	}
	if (before == 0) == (after == 0) {
		return
	}
	for _, zone := range w.rec.zones {
		if after > 0 {
			batch[within(ns+".svc", zone)] = emptyNonTerminal
		} else {
			batch[within(ns+".svc", zone)] = nil
		}
	}
}

// owned is what st publishes.
func (w *watcher) owned(st *svcState) *owned {
	if st.svc == nil {
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
	for name, b := range now.names {
		batch[name] = b.entry()
	}
	w.repoint(before.ptrs, now.ptrs, batch)
	indexEndpoints.Add(float64(now.endpoints - before.endpoints))
	w.ix.apply(batch)
	indexNames.Set(float64(w.ix.size()))
	if st.svc == nil && len(st.slices) == 0 {
		delete(w.svcs, key)
	}
	if w.changed != nil {
		w.changed()
	}
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
			for _, rr := range e.answer(kPTR) {
				ts = append(ts, rr.(*dns.PTR).Ptr)
			}
		}
		return ts
	}
	for _, ref := range old {
		targets[ref.name] = slices.DeleteFunc(current(ref.name), func(t string) bool { return t == ref.target })
	}
	for _, ref := range refs {
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
		b := &builder{}
		for _, t := range ts {
			b.add(kPTR, w.rec.ptr(name, t))
		}
		batch[name] = b.entry()
	}
}

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
	return old.resourceVersion != "" && old.resourceVersion == now.resourceVersion
}

func (w *watcher) serviceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s, ok := obj.(*service); ok {
				w.setService(s.key, s)
			}
		},
		UpdateFunc: func(old, obj any) {
			s, ok := obj.(*service)
			if o, _ := old.(*service); !ok || o != nil && replayed(&o.objMeta, &s.objMeta) {
				return
			}
			w.setService(s.key, s)
		},
		DeleteFunc: func(obj any) {
			if s, ok := untomb(obj).(*service); ok {
				w.setService(s.key, nil)
			}
		},
	}
}

func (w *watcher) sliceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if sl, ok := obj.(*endpointSlice); ok && sl.service != "" {
				w.setSlice(sl.serviceKey(), sl.name(), sl)
			}
		},
		UpdateFunc: func(old, obj any) {
			sl, ok := obj.(*endpointSlice)
			if !ok {
				return
			}
			o, _ := old.(*endpointSlice)
			if o != nil && replayed(&o.objMeta, &sl.objMeta) {
				return
			}
			if o != nil && o.service != "" && o.service != sl.service {
				w.setSlice(o.serviceKey(), o.name(), nil) // relabelled to another service
			}
			if sl.service != "" {
				w.setSlice(sl.serviceKey(), sl.name(), sl)
			}
		},
		DeleteFunc: func(obj any) {
			if sl, ok := untomb(obj).(*endpointSlice); ok && sl.service != "" {
				w.setSlice(sl.serviceKey(), sl.name(), nil)
			}
		},
	}
}

// start runs the informers until stop is called: one Service and one
// EndpointSlice informer per watched namespace (all namespaces by default).
func (w *watcher) start(client api, namespaces []string, selector string) {
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	informerSynced.WithLabelValues("services").Set(0)
	informerSynced.WithLabelValues("endpointslices").Set(0)
	var synced []cache.InformerSynced
	run := func(inf cache.SharedIndexInformer, transform cache.TransformFunc, h cache.ResourceEventHandler) {
		_ = inf.SetTransform(transform) // fails only once started
		_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, r *cache.Reflector, err error) {
			log.Warningf("watch of %s failed, retrying with back-off; answers come from what is already known: %v", r.TypeDescription(), err)
		})
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			log.Errorf("adding event handler: %v", err)
			return
		}
		synced = append(synced, reg.HasSynced)
		w.done.Go(func() { inf.RunWithContext(ctx) })
	}
	for _, ns := range namespaces {
		run(cache.NewSharedIndexInformer(patient(client, apiContact[0], "services", ns, selector),
			&corev1.Service{}, 0, cache.Indexers{}), toService, w.serviceHandler())
		run(cache.NewSharedIndexInformer(patient(client, apiContact[1], "endpointslices", ns, ""),
			&discovery.EndpointSlice{}, 0, cache.Indexers{}), toEndpointSlice, w.sliceHandler())
	}
	w.done.Go(func() { w.awaitSync(ctx, synced) })
}

// awaitSync publishes the index once every informer delivered its initial
// list, logging while it waits: until then queries get SERVFAIL.
func (w *watcher) awaitSync(ctx context.Context, synced []cache.InformerSynced) {
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond) // the first answer waits on this
	defer tick.Stop()
	nextLog := start.Add(5 * time.Second)
	for {
		all := true
		for _, s := range synced {
			all = all && s()
		}
		if all {
			informerSynced.WithLabelValues("services").Set(1)
			informerSynced.WithLabelValues("endpointslices").Set(1)
			w.mu.Lock()
			w.ix.publish()
			n := w.ix.size()
			w.mu.Unlock()
			log.Infof("synced with the Kubernetes API in %v: %d names", time.Since(start).Round(time.Millisecond), n)
			// The initial lists were decoded into whole API objects, now
			// garbage; the heap grew for them and would keep those pages.
			debug.FreeOSMemory()
			return
		}
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.After(nextLog) {
				log.Warningf("still waiting for the Kubernetes API after %v: answering SERVFAIL until the first sync", now.Sub(start).Round(time.Second))
				nextLog = now.Add(10 * time.Second)
			}
		}
	}
}

// stop ends the informers, waits for them, and takes this watcher's share
// out of the gauges: after a reload the new instance counts afresh.
func (w *watcher) stop() {
	if w.cancel != nil {
		w.cancel()
	}
	w.done.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.svcs {
		if st.svc != nil {
			indexServices.WithLabelValues(kindNames[st.svc.kind]).Dec()
			indexEndpoints.Sub(float64(w.owned(st).endpoints))
		}
	}
	clear(w.svcs) // a second stop takes nothing out again
}
