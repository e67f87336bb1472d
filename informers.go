package kubesvc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// newInformer makes the informers (fanout.go); a test replaces it to make
// one fail.
var newInformer = newFanout

// subscribed is called after each subscription of start; a test replaces it
// to let an informer deliver before start goes on.
var subscribed = func(*resource) {}

// start runs the informers of the resources cfg needs until stop is
// called: one per watched namespace (all namespaces by default) for a
// namespaced resource, one for a cluster-scoped one, each shared with the
// other instances that watch the same (shared.go). If any of them cannot
// be set up, none is used and the index is never published: without one
// resource's objects, names that exist would get NXDOMAIN, where SERVFAIL
// says the truth.
func (w *watcher) start(client api, cfg *clientConfig) {
	namespaces := cfg.namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.firstSync = make(chan struct{})
	w.watched = cfg.watched()
	conn := connOf(client)
	w.mu.Lock()
	w.countNames() // the zones' own names
	w.mu.Unlock()
	var (
		subs     []*subscription
		synced   []cache.InformerSynced
		contacts []*contact
		errs     []error
	)
	// Every handler is made before any informer runs (a shared one may
	// run already and replays its objects at once): the namespace handler
	// tells the watcher to serve only the namespaces it hears of.
	handlers := map[*resource]cache.ResourceEventHandler{}
	for _, r := range w.watched {
		handlers[r] = contacted{r.contact, r.handler(w)}
	}
	add := func(r *resource, ns string) {
		res := newContact(r.name, ns, r.contact) // the watches of a resource fail and recover as one
		for i, sel := range r.selectors(cfg) {
			c := res
			if i > 0 {
				c = res.watch()
			}
			tf := r.transformFor(cfg)
			key := informerKey{conn: conn, resource: r.name, namespace: ns, selector: sel, transform: transformID(tf), watch: i}
			sub, err := subscribe(client, key, r, fromWatch(tf, uint8(i)), c, handlers[r])
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", c.what, err))
				return
			}
			subs, synced = append(subs, sub), append(synced, sub.reg.HasSynced)
			subscribed(r)
		}
		contacts = append(contacts, res)
	}
	for _, r := range w.watched {
		informerSynced.WithLabelValues(r.name).Set(0)
		if !r.namespaced {
			add(r, metav1.NamespaceAll)
			continue
		}
		for _, ns := range namespaces {
			add(r, ns)
		}
	}
	unsubscribe := func() {
		for _, s := range subs {
			s.unsubscribe()
		}
	}
	if err := errors.Join(errs...); err != nil {
		unsubscribe()
		log.Errorf("cannot watch the Kubernetes API, so the index is never published: every name in the zones gets SERVFAIL, and the plugin is never ready: %v", err)
		return
	}
	w.replay = len(subs) > 0
	for _, s := range subs {
		w.replay = w.replay && s.replay
	}
	var once sync.Once // a second stop lets go of nothing again
	w.cancel = func() {
		cancel()
		once.Do(unsubscribe)
	}
	w.done.Go(func() {
		if w.awaitSync(ctx, synced, contacts) {
			memory.during(ctx) // returns memory after later bursts (release.go)
		}
	})
}

// fromWatch is the transform of a resource's watch i: transform, with the
// object marked as that watch's where the resource is watched through more
// than one selector (EndpointSlices: see sliceSelectors).
func fromWatch(transform cache.TransformFunc, i uint8) cache.TransformFunc {
	return func(obj any) (any, error) {
		out, err := transform(obj)
		if err != nil {
			return nil, err // no object to mark
		}
		if m, ok := out.(interface{ fromWatch(uint8) }); ok && out != obj {
			m.fromWatch(i)
		}
		return out, nil
	}
}

// awaitSync publishes the index once every informer delivered its initial
// list, logging while it waits, with the last failure of each informer:
// until then queries get SERVFAIL. It says whether it did (false: ctx ended
// first).
func (w *watcher) awaitSync(ctx context.Context, synced []cache.InformerSynced, contacts []*contact) bool {
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
			for _, r := range w.watched {
				informerSynced.WithLabelValues(r.name).Set(1)
			}
			w.mu.Lock()
			w.ix.publish()
			n := w.ix.size()
			w.mu.Unlock()
			close(w.firstSync)
			log.Infof("synced with the Kubernetes API in %v: %d names", time.Since(start).Round(time.Millisecond), n)
			// The initial lists were decoded (sparsely, wire.go) and
			// transformed: garbage now, which the heap grew for and
			// would keep the pages of.
			memory.returnNow()
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case now := <-tick.C:
			if now.After(nextLog) {
				log.Warningf("still waiting for the Kubernetes API after %v: answering SERVFAIL until the first sync%s",
					now.Sub(start).Round(time.Second), failures(contacts))
				nextLog = now.Add(10 * time.Second)
			}
		}
	}
}

// contacted notes each event of a resource in its api_last_contact gauge
// before the watcher's handler takes it.
type contacted struct {
	gauge prometheus.Gauge
	h     cache.ResourceEventHandler
}

func (c contacted) OnAdd(obj any, initial bool) {
	c.gauge.SetToCurrentTime()
	c.h.OnAdd(obj, initial)
}

func (c contacted) OnUpdate(old, obj any) {
	c.gauge.SetToCurrentTime()
	c.h.OnUpdate(old, obj)
}

func (c contacted) OnDelete(obj any) {
	c.gauge.SetToCurrentTime()
	c.h.OnDelete(obj)
}

// failures lists the informers' last failures, for the waiting line.
func failures(contacts []*contact) string {
	var out []string
	for _, c := range contacts {
		if s := c.status(); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; last failures: " + strings.Join(out, "; ")
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
	if w.stopped {
		return // a second stop takes nothing out again: the index still holds the services
	}
	w.stopped = true
	for st := range w.services {
		if st.svc != nil {
			w.countService(st.svc, -1)
			indexEndpoints.Sub(float64(w.owned(st).endpoints))
		}
	}
	w.svcs = newKeyTable(stateKey)
	clear(w.members)
	indexNames.Sub(float64(w.counted))
	w.counted = 0
}

// replayWait bounds awaitReplay, as stock's kubernetes plugin bounds its
// wait for the first sync at startup.
const replayWait = 5 * time.Second

// awaitReplay holds a reload's new instance, whose informers had all
// synced already (shared with the instance it replaces), until its handlers
// have been handed their stores and the index is published: the old
// instance answers meanwhile, where the new one would answer SERVFAIL for
// the milliseconds of the replay. A first start does not wait: it answers
// SERVFAIL until the first sync, and ready says when it is over.
func (w *watcher) awaitReplay(limit time.Duration) {
	if !w.replay {
		return
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-w.firstSync:
	case <-t.C:
		log.Warningf("the informers' objects were not replayed to the new instance within %v: answering SERVFAIL until they are", limit)
	}
}
