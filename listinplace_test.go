package kubesvc

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// sliceServer serves EndpointSlices in protobuf as an API server that
// streams lists does: a watch asking for initial events gets the slices
// there are (ADDED), the bookmark that ends them, then what the test
// pushes, until the test cuts it; a watch resuming from a version gets 410
// Gone (its version expired, as after an API server restart), so the
// reflector lists again.
type sliceServer struct {
	t      *testing.T
	mu     sync.Mutex
	slices map[string]*discovery.EndpointSlice
	rv     int
	lists  int
	cut    chan struct{} // closed to end the watch being served
	push   chan *discovery.EndpointSlice
}

func newSliceServer(t *testing.T) *sliceServer {
	return &sliceServer{t: t, slices: map[string]*discovery.EndpointSlice{}, cut: make(chan struct{}), push: make(chan *discovery.EndpointSlice)}
}

// set stores a slice of name with addresses (none: deletes it) at the
// next version.
func (s *sliceServer) set(name string, addrs ...string) *discovery.EndpointSlice {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rv++
	if len(addrs) == 0 {
		delete(s.slices, name)
		return nil
	}
	es := &discovery.EndpointSlice{
		TypeMeta:    metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: name, ResourceVersion: fmt.Sprint(s.rv), Labels: map[string]string{discovery.LabelServiceName: name}},
		AddressType: discovery.AddressTypeIPv4,
	}
	for _, a := range addrs {
		es.Endpoints = append(es.Endpoints, ep(a, "", true))
	}
	s.slices[name] = es
	return es
}

// cutWatch ends the watch being served.
func (s *sliceServer) cutWatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.cut)
	s.cut = make(chan struct{})
}

func (s *sliceServer) frame(w http.ResponseWriter, typ watch.EventType, obj runtime.Object) {
	ev := &metav1.WatchEvent{Type: string(typ)}
	ev.Object.Raw = encodeProtobuf(s.t, obj)
	b, err := ev.Marshal()
	if err != nil {
		s.t.Error(err)
		return
	}
	w.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...))
}

func (s *sliceServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("watch") != "true" && q.Get("watch") != "1" || q.Get("sendInitialEvents") != "true" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGone)
		json.NewEncoder(w).Encode(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
		return
	}
	s.mu.Lock()
	s.lists++
	listed := make([]*discovery.EndpointSlice, 0, len(s.slices))
	for _, es := range s.slices {
		listed = append(listed, es)
	}
	end := &discovery.EndpointSlice{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{ResourceVersion: fmt.Sprint(s.rv), Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}
	cut := s.cut
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf;stream=watch")
	for _, es := range listed {
		s.frame(w, watch.Added, es)
	}
	s.frame(w, watch.Bookmark, end)
	w.(http.Flusher).Flush()
	for {
		select {
		case <-cut:
			return
		case <-r.Context().Done():
			return
		case es := <-s.push:
			s.frame(w, watch.Modified, es)
			w.(http.Flusher).Flush()
		}
	}
}

// A streamed relist of a busy resource (EndpointSlices) is applied in place
// as it is read: the handlers are handed each listed object as an update or
// an addition first, then a tombstone of each object the list no longer
// has (a Replace of the reflector's gathered list hands the tombstones
// first); the informer then holds what was listed, and changes that follow
// the list are applied.
func TestStreamedRelistIsAppliedInPlaceThenWhatItLacksIsDeleted(t *testing.T) {
	s := newSliceServer(t)
	s.set("a", "10.0.0.1")
	s.set("b", "10.0.0.2")
	s.set("c", "10.0.0.3")
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	a := protobufAPIAt(t, srv.URL)
	c := newContact("endpointslices", "", apiLastContact.WithLabelValues("test"))
	inf := newFanout(patient(a, c, "endpointslices", "", ""), &discovery.EndpointSlice{}, 0, nil)
	if err := inf.SetTransform(fromWatch(toEndpointSlice, 0)); err != nil {
		t.Fatal(err)
	}
	var got sliceEvents
	var tombstones []string
	var mu sync.Mutex
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { got.note("add", obj) },
		UpdateFunc: func(_, obj any) { got.note("update", obj) },
		DeleteFunc: func(obj any) {
			d, ok := obj.(cache.DeletedFinalStateUnknown)
			if !ok {
				got.note("delete", obj)
				return
			}
			mu.Lock()
			tombstones = append(tombstones, d.Key)
			mu.Unlock()
			got.note("tombstone", d.Obj)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go inf.RunWithContext(ctx)
	waitFor(t, "the first streamed list", reg.HasSynced)
	var events []string
	waitFor(t, "the first list's objects", func() bool { events = append(events, got.take()...); return len(events) >= 3 })
	slices.Sort(events)
	if want := []string{"add ns/a: 10.0.0.1", "add ns/b: 10.0.0.2", "add ns/c: 10.0.0.3"}; !slices.Equal(events, want) {
		t.Fatalf("the first list handed %q, want %q", events, want)
	}

	s.set("a")
	s.set("b", "10.0.0.22")
	s.set("c")
	s.set("d", "10.0.0.4")
	s.cutWatch() // the reflector resumes, is told 410 Gone, and lists again
	events = nil
	waitFor(t, "the relist's events", func() bool { events = append(events, got.take()...); return len(events) >= 4 })
	listed, dropped := slices.Clone(events[:2]), slices.Clone(events[2:])
	slices.Sort(listed)
	slices.Sort(dropped)
	if want := []string{"add ns/d: 10.0.0.4", "update ns/b: 10.0.0.22"}; !slices.Equal(listed, want) {
		t.Errorf("the relist handed first %q, want the listed objects %q (all it handed: %q)", listed, want, events)
	}
	if want := []string{"tombstone ns/a: 10.0.0.1", "tombstone ns/c: 10.0.0.3"}; !slices.Equal(dropped, want) {
		t.Errorf("the relist handed last %q, want tombstones of what it no longer has %q (all it handed: %q)", dropped, want, events)
	}

	s.push <- s.set("d", "10.0.0.44")
	events = nil
	waitFor(t, "the change after the relist", func() bool { events = append(events, got.take()...); return len(events) >= 1 })
	if want := []string{"update ns/d: 10.0.0.44"}; !slices.Equal(events, want) {
		t.Errorf("after the relist a change handed %q, want %q", events, want)
	}
	var late sliceEvents
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) { late.note("add", obj) }}); err != nil {
		t.Fatal(err)
	}
	replay := late.take()
	slices.Sort(replay)
	if want := []string{"add ns/b: 10.0.0.22", "add ns/d: 10.0.0.44"}; !slices.Equal(replay, want) {
		t.Errorf("the informer holds %q after the relist and the change, want %q", replay, want)
	}
	s.mu.Lock()
	lists := s.lists
	s.mu.Unlock()
	if lists != 2 {
		t.Errorf("the API server streamed %d lists, want 2 (the first, and the relist after 410 Gone)", lists)
	}
}

// Only the reflector's Replace of the version a list applied in place ended
// at is that list's end, and deletes nothing; any other Replace is a list
// of its own, whose objects are all there is.
func TestOnlyTheReplaceOfTheListsVersionEndsAListAppliedInPlace(t *testing.T) {
	for _, c := range []struct {
		rv   string
		want []string
	}{
		{"9", nil},
		{"10", []string{"delete ns/a", "delete ns/b"}},
	} {
		f := newFanout(nil, &corev1.Service{}, 0, nil).(*fanout)
		var got events
		if _, err := f.AddEventHandler(got.handler()); err != nil {
			t.Fatal(err)
		}
		f.listStart()
		for _, name := range []string{"a", "b"} {
			if err := f.listed(clusterIPSvc("ns", name, []string{"10.96.0.1"})); err != nil {
				t.Fatal(err)
			}
		}
		f.listEnd("9")
		got.take()
		if err := (*fanoutStore)(f).Replace(nil, c.rv); err != nil {
			t.Fatal(err)
		}
		if e := got.take(); !slices.Equal(e, c.want) {
			t.Errorf("an empty Replace at version %s after a list applied in place ended at 9: handed %q, want %q", c.rv, e, c.want)
		}
		if !f.HasSynced() {
			t.Errorf("an empty Replace at version %s: the informer has not synced", c.rv)
		}
	}
}
