package kubesvc

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// wireSliceOf is es as the sparse decoder hands it to the informers.
func wireSliceOf(t *testing.T, es *discovery.EndpointSlice) *wireSlice {
	t.Helper()
	es.TypeMeta = metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}
	obj, _, err := sparseProtobuf(t).Decode(encodeProtobuf(t, es), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*wireSlice)
}

// streamedSlices is a lister-watcher of EndpointSlices as the API server
// streams them in protobuf (WatchList): the first watch gets initial as
// Added events and the bookmark that ends them, each a wireSlice.
func streamedSlices(t *testing.T, initial []*wireSlice, watches chan<- *watch.FakeWatcher) cache.ListerWatcher {
	end := wireSliceOf(t, &discovery.EndpointSlice{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "20",
		Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}})
	return streamingLW(watches, func() ([]runtime.Object, runtime.Object) {
		objs := make([]runtime.Object, len(initial))
		for i, s := range initial {
			objs[i] = s
		}
		return objs, end
	})
}

// sliceEvents records the endpointSlices a handler was handed, as
// "add ns/name: addresses".
type sliceEvents struct {
	mu  sync.Mutex
	got []string
}

func (e *sliceEvents) note(what string, obj any) {
	s, ok := obj.(*endpointSlice)
	line := fmt.Sprintf("%s %T", what, obj)
	if ok {
		var addrs []string
		for _, ep := range s.endpoints {
			addrs = append(addrs, ep.ip().String())
		}
		line = fmt.Sprintf("%s %s: %s", what, s.storeKey(), strings.Join(addrs, ","))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, line)
}

func (e *sliceEvents) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.got
	e.got = nil
	return out
}

// A slice whose endpoints are malformed reaches the informer decoded (the
// transform reads them): its transform's error leaves the slice the
// informer holds as it was, and is logged with the slice's name, not its
// message; the informer goes on with the next event. The transforms are
// run as the informers run them (fromWatch), the multicluster one too.
func TestMalformedSliceEventLeavesTheInformerRunning(t *testing.T) {
	for name, tf := range map[string]cache.TransformFunc{"toEndpointSlice": toEndpointSlice, "toMulticlusterSlice": toMulticlusterSlice} {
		t.Run(name, func(t *testing.T) {
			logs := captureLog(t)
			slice := func(rv string, addrs ...string) *discovery.EndpointSlice {
				es := &discovery.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-1", ResourceVersion: rv,
					Labels: map[string]string{discovery.LabelServiceName: "web", "multicluster.kubernetes.io/service-name": "web"}},
					AddressType: discovery.AddressTypeIPv4}
				for _, a := range addrs {
					es.Endpoints = append(es.Endpoints, discovery.Endpoint{Addresses: []string{a}, Hostname: ptr.To("db-" + a[len(a)-1:])})
				}
				return es
			}
			bad := wireSliceOf(t, slice("22", "10.0.0.1", "10.0.0.2"))
			at := bytes.Index(bad.msg, []byte("db-2"))
			bad.msg = slices.Clone(bad.msg)
			bad.msg[at-1] = 200 // the second hostname claims more bytes than follow

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			watches := make(chan *watch.FakeWatcher, 4)
			inf := newFanout(streamedSlices(t, []*wireSlice{wireSliceOf(t, slice("5", "10.0.0.1"))}, watches), &discovery.EndpointSlice{}, 0, nil)
			if err := inf.SetTransform(fromWatch(tf, 1)); err != nil {
				t.Fatal(err)
			}
			var got sliceEvents
			reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
				AddFunc:    func(obj any) { got.note("add", obj) },
				UpdateFunc: func(_, obj any) { got.note("update", obj) },
				DeleteFunc: func(obj any) { got.note("delete", obj) },
			})
			if err != nil {
				t.Fatal(err)
			}
			go inf.RunWithContext(ctx)
			waitFor(t, "the streamed list", reg.HasSynced)
			w := <-watches
			w.Modify(bad)
			w.Modify(wireSliceOf(t, slice("23", "10.0.0.3")))
			var events []string
			waitFor(t, "the update after the malformed slice", func() bool { events = append(events, got.take()...); return len(events) >= 2 })
			if want := []string{"add default/web-1: 10.0.0.1", "update default/web-1: 10.0.0.3"}; !slices.Equal(events, want) {
				t.Errorf("handed %q, want %q (the malformed slice handed nothing)", events, want)
			}
			lines := logs.lines("web-1")
			if len(lines) != 1 || !strings.Contains(lines[0], "EndpointSlice default/web-1") || strings.Contains(lines[0], strings.Trim(fmt.Sprint(bad.msg[:16]), "[]")) {
				t.Errorf("the malformed slice is logged as %q, want one line naming EndpointSlice default/web-1 without its bytes", lines)
			}
		})
	}
}

// A relist the API server pages hands the pager *wireSliceLists, which it
// joins: every slice of every page reaches the handlers transformed.
func TestPagedListOfWireSlices(t *testing.T) {
	page := func(cont string, names ...string) *wireSliceList {
		l := &discovery.EndpointSliceList{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSliceList"},
			ListMeta: metav1.ListMeta{ResourceVersion: "10", Continue: cont}}
		for i, n := range names {
			l.Items = append(l.Items, discovery.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: n, ResourceVersion: "9",
				Labels: map[string]string{discovery.LabelServiceName: n}}, AddressType: discovery.AddressTypeIPv4,
				Endpoints: []discovery.Endpoint{{Addresses: []string{fmt.Sprintf("10.0.0.%d", len(cont)*10+i+1)}}}})
		}
		obj, _, err := sparseProtobuf(t).Decode(encodeProtobuf(t, l), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*wireSliceList)
	}
	pages := map[string]*wireSliceList{"": page("p2", "a", "b"), "p2": page("", "c")}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(_ context.Context, o metav1.ListOptions) (runtime.Object, error) { return pages[o.Continue], nil },
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			return watch.NewFakeWithChanSize(1, false), nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inf := newFanout(cache.ToListWatcherWithWatchListSemantics(lw, fakeAPI{}), &discovery.EndpointSlice{}, 0, nil)
	if err := inf.SetTransform(fromWatch(toEndpointSlice, 0)); err != nil {
		t.Fatal(err)
	}
	var got sliceEvents
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) { got.note("add", obj) }})
	if err != nil {
		t.Fatal(err)
	}
	go inf.RunWithContext(ctx)
	waitFor(t, "the paged list", reg.HasSynced)
	events := got.take()
	slices.Sort(events)
	if want := []string{"add default/a: 10.0.0.21", "add default/b: 10.0.0.22", "add default/c: 10.0.0.1"}; !slices.Equal(events, want) {
		t.Errorf("handed %q, want %q", events, want)
	}
}
