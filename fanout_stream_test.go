package kubesvc

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

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
	return &cache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			panic("listed: the reflector was to stream its lists")
		},
		WatchFuncWithContext: func(_ context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w := watch.NewFakeWithChanSize(100, false)
			if o.SendInitialEvents != nil && *o.SendInitialEvents {
				s.mu.Lock()
				names := s.lists[0]
				s.lists = s.lists[1:]
				s.mu.Unlock()
				for _, n := range names {
					w.Add(nsObj(n, "5"))
				}
				end := nsObj("", "20")
				end.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
				w.Action(watch.Bookmark, end)
			}
			s.watches <- w
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
