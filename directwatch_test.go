package kubesvc

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
)

// streamEvent is one event of a test watch stream: a slice of version rv
// (with the initial-events-end annotation if end), or raw bytes as the
// event's object when garbage is set.
type streamEvent struct {
	typ     watch.EventType
	rv      int
	end     bool
	garbage bool
}

// watchStream serves one watch of EndpointSlices in protobuf made of
// events, then ends the response.
func watchStream(t *testing.T, events []streamEvent) *httptest.Server {
	var body []byte
	for _, e := range events {
		es := &discovery.EndpointSlice{
			TypeMeta:    metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
			ObjectMeta:  metav1.ObjectMeta{Namespace: "n", Name: "s", ResourceVersion: fmt.Sprint(e.rv), Labels: map[string]string{discovery.LabelServiceName: "s"}},
			AddressType: discovery.AddressTypeIPv4,
			Endpoints:   []discovery.Endpoint{ep(fmt.Sprintf("10.0.0.%d", e.rv%250+1), "", true)},
		}
		if e.end {
			es.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: "true"}
		}
		ev := &metav1.WatchEvent{Type: string(e.typ)}
		ev.Object.Raw = encodeProtobuf(t, es)
		if e.garbage {
			ev.Object.Raw = append([]byte("k8s\x00"), 0xff, 0xff, 0xff)
		}
		b, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		body = append(binary.BigEndian.AppendUint32(body, uint32(len(b))), b...)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf;stream=watch")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// appliedLog records what an applier was handed: "TYPE rv".
type appliedLog struct {
	mu  sync.Mutex
	got []string
}

func (l *appliedLog) apply(typ watch.EventType, obj runtime.Object) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	if ws, ok := obj.(*wireSlice); ok {
		ws.release()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, fmt.Sprintf("%s %s", typ, m.GetResourceVersion()))
	return nil
}

func (l *appliedLog) listStart() { l.note("LIST") }

func (l *appliedLog) listed(obj runtime.Object) error { return l.apply("LISTED", obj) }

func (l *appliedLog) listEnd(rv string) { l.note("END " + rv) }

func (l *appliedLog) note(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, s)
}

// applyFunc is an applier of changes only, which a test's watch does not
// list through.
type applyFunc func(watch.EventType, runtime.Object) error

func (f applyFunc) apply(typ watch.EventType, obj runtime.Object) error { return f(typ, obj) }
func (applyFunc) listStart()                                            {}
func (applyFunc) listed(runtime.Object) error                           { return nil }
func (applyFunc) listEnd(string)                                        {}

func (l *appliedLog) applied() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// handedOn runs a busy watch of srv with log's applier, as the reflector
// would, and returns the events it was handed ("TYPE rv", an end bookmark
// "BOOKMARK rv end", an error "ERROR") and, for each, what had been
// applied by then, until the watch closed.
func handedOn(t *testing.T, srv *httptest.Server, log *appliedLog, listing bool) (events []string, appliedBefore [][]string) {
	t.Helper()
	a := protobufAPIAt(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := metav1.ListOptions{ResourceVersion: "1"} // a reflector's watch, after its list
	if listing {
		o.ResourceVersion = ""
		o.SendInitialEvents, o.ResourceVersionMatch = ptr.To(true), metav1.ResourceVersionMatchNotOlderThan
	}
	w, err := a.watch(withApplier(ctx, log), "endpointslices", "", o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, ok := w.(*directWatch); !ok {
		t.Fatalf("a busy watch with an applier is a %T, want a *directWatch", w)
	}
	for ev := range w.ResultChan() {
		s := string(ev.Type)
		if ev.Type != watch.Error {
			m, err := meta.Accessor(ev.Object)
			if err != nil {
				t.Fatal(err)
			}
			s += " " + m.GetResourceVersion()
			if m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true" {
				s += " end"
			}
		}
		if ws, ok := ev.Object.(*wireSlice); ok {
			ws.release()
		}
		events, appliedBefore = append(events, s), append(appliedBefore, log.applied())
	}
	return events, appliedBefore
}

func TestDirectWatchAppliesChangesAndHandsOnTheirVersionBeforeAnythingElse(t *testing.T) {
	srv := watchStream(t, []streamEvent{
		{typ: watch.Added, rv: 2}, {typ: watch.Modified, rv: 3}, {typ: watch.Modified, rv: 4},
		{typ: watch.Bookmark, rv: 5},
		{typ: watch.Modified, rv: 6}, {typ: watch.Deleted, rv: 7},
	})
	var log appliedLog
	events, before := handedOn(t, srv, &log, false)
	wantApplied := []string{"ADDED 2", "MODIFIED 3", "MODIFIED 4", "MODIFIED 6", "DELETED 7"}
	if got := log.applied(); !slices.Equal(got, wantApplied) {
		t.Errorf("applied %q, want %q", got, wantApplied)
	}
	wantEvents := []string{"BOOKMARK 4", "BOOKMARK 5", "BOOKMARK 7"}
	if !slices.Equal(events, wantEvents) {
		t.Fatalf("the reflector was handed %q, want %q", events, wantEvents)
	}
	for i, n := range []int{3, 3, 5} { // what each bookmark marks is applied by then
		if len(before[i]) < n {
			t.Errorf("when the reflector took %s, %d changes were applied (%q), want %d", events[i], len(before[i]), before[i], n)
		}
	}
}

func TestDirectWatchAppliesAStreamedListInPlaceAndChangesOnlyOnceTheReflectorTookItsEnd(t *testing.T) {
	srv := watchStream(t, []streamEvent{
		{typ: watch.Added, rv: 2}, {typ: watch.Added, rv: 3}, {typ: watch.Bookmark, rv: 3, end: true},
		{typ: watch.Modified, rv: 4}, {typ: watch.Modified, rv: 5},
	})
	var log appliedLog
	events, before := handedOn(t, srv, &log, true)
	wantEvents := []string{"BOOKMARK 3 end", "BOOKMARK 3", "BOOKMARK 5"}
	if !slices.Equal(events, wantEvents) {
		t.Fatalf("the reflector was handed %q, want %q", events, wantEvents)
	}
	// The list is applied and ended (what it did not have deleted) before
	// the reflector takes its end; changes after it only once the
	// reflector took the second bookmark (it has replaced its store's
	// objects with the list's, none, by then).
	if want := []string{"LIST", "LISTED 2", "LISTED 3", "END 3"}; !slices.Equal(before[0], want) {
		t.Errorf("when the reflector took the list's end, the store had been handed %q, want %q", before[0], want)
	}
	if got, want := log.applied(), []string{"LIST", "LISTED 2", "LISTED 3", "END 3", "MODIFIED 4", "MODIFIED 5"}; !slices.Equal(got, want) {
		t.Errorf("the store was handed %q, want %q", got, want)
	}
}

// A long list applied in place hands the reflector a bookmark of its
// progress now and then: a reflector that takes nothing of a streamed list
// for 10 s warns that it is still waiting for its end.
func TestDirectWatchLongListHandsOnItsProgress(t *testing.T) {
	defer func(d time.Duration) { listProgress = d }(listProgress)
	listProgress = 0 // at every look: every 256 objects
	var events []streamEvent
	for rv := 2; rv <= 601; rv++ {
		events = append(events, streamEvent{typ: watch.Added, rv: rv})
	}
	srv := watchStream(t, append(events, streamEvent{typ: watch.Bookmark, rv: 601, end: true}))
	var log appliedLog
	got, _ := handedOn(t, srv, &log, true)
	if want := []string{"BOOKMARK 257", "BOOKMARK 513", "BOOKMARK 601 end", "BOOKMARK 601"}; !slices.Equal(got, want) {
		t.Errorf("the reflector was handed %q, want %q", got, want)
	}
	if n := len(log.applied()); n != 602 { // LIST, 600 objects, END
		t.Errorf("the store was handed %d calls, want 602", n)
	}
}

// A list cut before its end deletes nothing, and hands the reflector a
// bookmark of the last object it applied: a watch that ended within a
// second having handed on nothing would make the reflector fall back to a
// whole LIST, where one that handed on something makes it stream the list
// again.
func TestDirectWatchListCutBeforeItsEndEndsNothingAndHandsOnAnEvent(t *testing.T) {
	srv := watchStream(t, []streamEvent{{typ: watch.Added, rv: 2}, {typ: watch.Added, rv: 3}})
	var log appliedLog
	events, _ := handedOn(t, srv, &log, true)
	if want := []string{"BOOKMARK 3"}; !slices.Equal(events, want) {
		t.Errorf("the reflector was handed %q, want %q", events, want)
	}
	if got, want := log.applied(), []string{"LIST", "LISTED 2", "LISTED 3"}; !slices.Equal(got, want) {
		t.Errorf("the store was handed %q, want %q", got, want)
	}
}

func TestDirectWatchHandsOnADecodingErrorAfterTheAppliedVersion(t *testing.T) {
	srv := watchStream(t, []streamEvent{{typ: watch.Modified, rv: 2}, {typ: watch.Modified, rv: 3, garbage: true}, {typ: watch.Modified, rv: 4}})
	var log appliedLog
	events, _ := handedOn(t, srv, &log, false)
	if want := []string{"BOOKMARK 2", "ERROR"}; !slices.Equal(events, want) {
		t.Fatalf("the reflector was handed %q, want %q", events, want)
	}
	if got, want := log.applied(), []string{"MODIFIED 2"}; !slices.Equal(got, want) {
		t.Errorf("applied %q, want %q", got, want)
	}
}

func TestWatchesWithoutAnApplierAreClientGos(t *testing.T) {
	srv := watchStream(t, []streamEvent{{typ: watch.Modified, rv: 2}})
	a := restAPIAt(t, srv.URL)
	w, err := a.watch(context.Background(), "endpointslices", "", metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, ok := w.(*directWatch); ok {
		t.Fatal("a watch without an applier in its context is a directWatch")
	}
	ev := <-w.ResultChan()
	if ev.Type != watch.Modified {
		t.Errorf("the watch handed on %s, want the stream's MODIFIED", ev.Type)
	}
}

func TestDirectWatchAppliesNothingOnceStopped(t *testing.T) {
	var events []streamEvent
	for rv := 2; rv < 50; rv++ {
		events = append(events, streamEvent{typ: watch.Modified, rv: rv})
	}
	srv := watchStream(t, events)
	a := restAPIAt(t, srv.URL)
	entered, release := make(chan struct{}), make(chan struct{})
	var applied atomic.Int32
	apply := func(_ watch.EventType, obj runtime.Object) error {
		if ws, ok := obj.(*wireSlice); ok {
			ws.release()
		}
		if applied.Add(1) == 1 {
			close(entered)
			<-release
		}
		return nil
	}
	w, err := a.watch(withApplier(context.Background(), applyFunc(apply)), "endpointslices", "", metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	stopped := make(chan struct{})
	go func() { w.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a change was being applied")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	atStop := applied.Load()
	for range w.ResultChan() { // closed once the reading goroutine ends
	}
	if n := applied.Load(); n != atStop {
		t.Errorf("%d changes were applied when Stop returned, %d once the watch closed: none may be applied after Stop", atStop, n)
	}
}

// A watch from no version starts with an ADDED event for each object there
// is, in no order of version: the reflector takes those itself.
func TestDirectWatchFromNoVersionHandsEverythingOn(t *testing.T) {
	srv := watchStream(t, []streamEvent{{typ: watch.Added, rv: 5}, {typ: watch.Added, rv: 3}, {typ: watch.Modified, rv: 6}})
	a := restAPIAt(t, srv.URL)
	var log appliedLog
	w, err := a.watch(withApplier(context.Background(), &log), "endpointslices", "", metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	for ev := range w.ResultChan() {
		m, err := meta.Accessor(ev.Object)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s", ev.Type, m.GetResourceVersion()))
	}
	if want := []string{"ADDED 5", "ADDED 3", "MODIFIED 6"}; !slices.Equal(got, want) {
		t.Errorf("the reflector was handed %q, want %q", got, want)
	}
	if applied := log.applied(); len(applied) != 0 {
		t.Errorf("applied %q in place, want nothing", applied)
	}
}
