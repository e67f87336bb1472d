package kubesvc

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

// events records what a handler was handed, as "add ns/name" and so on.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) note(what string, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	s := obj.(*corev1.Service)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, what+" "+s.Namespace+"/"+s.Name)
}

func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.got
	e.got = nil
	slices.Sort(out)
	return out
}

func (e *events) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.note("add", obj) },
		UpdateFunc: func(_, obj any) { e.note("update", obj) },
		DeleteFunc: func(obj any) { e.note("delete", obj) },
	}
}

// The informers hand every subscriber each change once: one subscribed
// late is handed the store first, and nothing it had; one unsubscribed is
// handed nothing more.
func TestFanoutHandsEachSubscriberEveryChangeOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := fake.NewClientset(clusterIPSvc("ns", "a", []string{"10.96.0.1"}), clusterIPSvc("ns", "b", []string{"10.96.0.2"}))
	inf := servicesFanout(c)
	var first, late events
	regFirst, err := inf.AddEventHandler(first.handler())
	if err != nil {
		t.Fatal(err)
	}
	checker := regFirst.HasSyncedChecker() // made before the informer runs
	go inf.RunWithContext(ctx)
	waitFor(t, "the first sync", regFirst.HasSynced)
	select {
	case <-checker.Done():
	case <-time.After(5 * time.Second):
		t.Error("the synced checker of a registration made before the informer ran is not done 5s after the sync")
	}
	expectEvents(t, "first, after the sync", &first, "add ns/a", "add ns/b")
	create := func(name, ip string) {
		if _, err := c.CoreV1().Services("ns").Create(ctx, clusterIPSvc("ns", name, []string{ip}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create("c", "10.96.0.3")
	expectEvents(t, "first, after a create", &first, "add ns/c")
	regLate, err := inf.AddEventHandler(late.handler())
	if err != nil {
		t.Fatal(err)
	}
	if !regLate.HasSynced() {
		t.Error("a subscriber handed the store has not synced")
	}
	expectEvents(t, "late, when subscribing", &late, "add ns/a", "add ns/b", "add ns/c")
	if err := c.CoreV1().Services("ns").Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, "first, after a delete", &first, "delete ns/b")
	expectEvents(t, "late, after a delete", &late, "delete ns/b")
	if err := inf.RemoveEventHandler(regFirst); err != nil {
		t.Fatal(err)
	}
	create("d", "10.96.0.4")
	expectEvents(t, "late, after another create", &late, "add ns/d")
	expectEvents(t, "first, unsubscribed", &first)
	if err := inf.SetTransform(nil); err == nil {
		t.Error("a running informer took a transform")
	}
}

// A relist (the watch expired: 410 Gone, as after an API server restart)
// hands a subscriber a tombstone of each object deleted while the watch
// was down, an update of each still there and an addition of each new one.
func TestFanoutRelistHandsWhatChangedWhileTheWatchWasDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := fake.NewClientset(clusterIPSvc("ns", "a", []string{"10.96.0.1"}), clusterIPSvc("ns", "b", []string{"10.96.0.2"}))
	// Every watch is one the test ends: the fake's changes go unseen.
	watches := make(chan *watch.FakeWatcher, 4)
	c.PrependWatchReactor("services", func(k8stesting.Action) (bool, watch.Interface, error) {
		w := watch.NewFakeWithChanSize(4, false)
		watches <- w
		return true, w, nil
	})
	inf := servicesFanout(c)
	var got events
	var tombstones atomic.Int32
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { got.note("add", obj) },
		UpdateFunc: func(_, obj any) { got.note("update", obj) },
		DeleteFunc: func(obj any) {
			if _, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				tombstones.Add(1)
			}
			got.note("delete", obj)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	go inf.RunWithContext(ctx)
	waitFor(t, "the first sync", reg.HasSynced)
	expectEvents(t, "after the sync", &got, "add ns/a", "add ns/b")
	w := <-watches
	if err := c.CoreV1().Services("ns").Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services("ns").Create(ctx, clusterIPSvc("ns", "c", []string{"10.96.0.3"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
	expectEvents(t, "after the relist", &got, "add ns/c", "delete ns/b", "update ns/a")
	if n := tombstones.Load(); n != 1 {
		t.Errorf("%d deletions came as tombstones, want the 1 missed while the watch was down", n)
	}
	var replayed events
	if _, err := inf.AddEventHandler(replayed.handler()); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, "a late subscriber, after the relist", &replayed, "add ns/a", "add ns/c")
}

// servicesFanout is an informer of c's Services.
func servicesFanout(c *fake.Clientset) informer {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.CoreV1().Services("").List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.CoreV1().Services("").Watch(ctx, o)
		},
	}
	// The fake cannot stream lists: the reflector is told so, as patient does.
	return newFanout(cache.ToListWatcherWithWatchListSemantics(lw, fakeAPI{c: c}), &corev1.Service{}, 0, nil)
}

// expectEvents waits a little for want (sorted) and fails with what came.
func expectEvents(t *testing.T, what string, e *events, want ...string) {
	t.Helper()
	// Until as many came as are wanted; none wanted: what comes in 200 ms.
	wait := 2 * time.Second
	if len(want) == 0 {
		wait = 200 * time.Millisecond
	}
	var got []string
	for deadline := time.Now().Add(wait); time.Now().Before(deadline) && (len(want) == 0 || len(got) < len(want)); {
		time.Sleep(5 * time.Millisecond)
		got = append(got, e.take()...)
	}
	slices.Sort(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: handed %v, want %v", what, got, want)
	}
}

// streamingNamespaces is a lister-watcher of namespaces that streams its
// lists (WatchList): each watch asked for initial events gets the next of
// lists as Added events and the bookmark that ends them.
type streamingNamespaces struct {
	mu      sync.Mutex
	lists   [][]string
	watches chan *watch.FakeWatcher
}

func nsObj(name, rv string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv}}
}

func (s *streamingNamespaces) lw() cache.ListerWatcher {
	return streamingLW(s.watches, func() ([]runtime.Object, runtime.Object) {
		s.mu.Lock()
		names := s.lists[0]
		s.lists = s.lists[1:]
		s.mu.Unlock()
		var objs []runtime.Object
		for _, n := range names {
			objs = append(objs, nsObj(n, "5"))
		}
		end := nsObj("", "20")
		end.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
		return objs, end
	})
}

// streamingLW is a lister-watcher that streams its lists (WatchList): each
// watch asked for initial events gets the objects of the next call of
// initial as Added events and end as the bookmark that ends them; every
// watch is sent on watches.
func streamingLW(watches chan<- *watch.FakeWatcher, initial func() (objs []runtime.Object, end runtime.Object)) cache.ListerWatcher {
	return &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			panic("listed: the reflector was to stream its lists")
		},
		WatchFuncWithContext: func(_ context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w := watch.NewFakeWithChanSize(100, false)
			if o.SendInitialEvents != nil && *o.SendInitialEvents {
				objs, end := initial()
				for _, obj := range objs {
					w.Add(obj)
				}
				w.Action(watch.Bookmark, end)
			}
			watches <- w
			return w, nil
		},
	}
}

type nsEvents struct {
	mu  sync.Mutex
	got []string
}

func (e *nsEvents) note(what string, obj any) {
	tomb := ""
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, tomb = d.Obj, " (tombstone "+d.Key+")"
	}
	n, ok := obj.(*namespace)
	name := "NOT A TRANSFORMED NAMESPACE"
	if ok {
		name = n.name()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, what+" "+name+tomb)
}

func (e *nsEvents) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.note("add", obj) },
		UpdateFunc: func(_, obj any) { e.note("update", obj) },
		DeleteFunc: func(obj any) { e.note("delete", obj) },
	}
}

func (e *nsEvents) expect(t *testing.T, what string, want ...string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && len(got) < len(want); time.Sleep(5 * time.Millisecond) {
		e.mu.Lock()
		got = append(got, e.got...)
		e.got = nil
		e.mu.Unlock()
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: handed %q, want %q", what, got, want)
	}
}

// Streamed lists (WatchList, what a real API server gives client-go's
// reflector by default) of a cluster-scoped resource: the objects the
// reflector transformed as they came are keyed as watch events' are, so
// that a deletion deletes, and a relist after an expired watch hands
// tombstones, updates and additions as a listed one does.
func TestFanoutStreamedListsOfClusterScopedObjects(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &streamingNamespaces{lists: [][]string{{"a", "b"}, {"a", "d"}}, watches: make(chan *watch.FakeWatcher, 4)}
	inf := newFanout(s.lw(), &corev1.Namespace{}, 0, nil)
	if err := inf.SetTransform(fromWatch(toNamespace, 0)); err != nil {
		t.Fatal(err)
	}
	var got nsEvents
	reg, err := inf.AddEventHandler(got.handler())
	if err != nil {
		t.Fatal(err)
	}
	go inf.RunWithContext(ctx)
	waitFor(t, "the first sync", reg.HasSynced)
	got.expect(t, "the streamed list", "add a", "add b")
	w := <-s.watches
	w.Delete(nsObj("b", "21"))
	w.Add(nsObj("c", "22"))
	got.expect(t, "watch events", "delete b", "add c")
	w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
	got.expect(t, "the streamed relist", "delete c (tombstone /c)", "update a", "add d")
	var late nsEvents
	if _, err := inf.AddEventHandler(late.handler()); err != nil {
		t.Fatal(err)
	}
	late.expect(t, "a late subscriber", "add a", "add d")
}
