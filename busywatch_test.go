package kubesvc

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// watchServer is an API server over TLS that offers HTTP/2 as the real one
// does. It records the protocol of every request by resource and verb, and
// serves a watch of EndpointSlices as events: every events interval until
// quietAfter have gone, then nothing until the client hangs up.
type watchServer struct {
	*httptest.Server
	events     int           // sent before going quiet
	interval   time.Duration // between events
	mu         sync.Mutex
	protos     map[string]string // "endpointslices watch" -> "HTTP/1.1"
	hungUp     chan struct{}     // closed when a watch's client has hung up
	hungUpOnce sync.Once
}

func newWatchServer(t *testing.T, events int, interval time.Duration) *watchServer {
	s := &watchServer{events: events, interval: interval, protos: map[string]string{}, hungUp: make(chan struct{})}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *watchServer) serve(w http.ResponseWriter, r *http.Request) {
	resource := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	verb := "list"
	if r.URL.Query().Get("watch") == "true" {
		verb = "watch"
	}
	s.mu.Lock()
	s.protos[resource+" "+verb] = r.Proto
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if verb == "list" {
		fmt.Fprint(w, `{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"1"},"items":[]}`)
		return
	}
	w.(http.Flusher).Flush()
	for i := range s.events {
		fmt.Fprintf(w, `{"type":"ADDED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1",`+
			`"metadata":{"name":"s-%d","namespace":"n","resourceVersion":"%d","labels":{"kubernetes.io/service-name":"s"}},"addressType":"IPv4","endpoints":[]}}`+"\n", i, i+2)
		w.(http.Flusher).Flush()
		time.Sleep(s.interval)
	}
	<-r.Context().Done()
	s.hungUpOnce.Do(func() { close(s.hungUp) })
}

func (s *watchServer) restConfig() *rest.Config {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	return &rest.Config{Host: s.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}}
}

func TestBusyResourcesAreWatchedOverHTTP1AndTheRestOverHTTP2(t *testing.T) {
	s := newWatchServer(t, 0, 0)
	a, err := newRestAPIIdle(s.restConfig(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, resource := range []string{"endpointslices", "services", "namespaces"} {
		w, err := a.watch(ctx, resource, "", metav1.ListOptions{})
		if err != nil {
			t.Fatalf("watch %s: %v", resource, err)
		}
		defer w.Stop()
	}
	if _, err := a.list(ctx, "endpointslices", "", metav1.ListOptions{}); err != nil {
		t.Fatalf("list endpointslices: %v", err)
	}
	want := map[string]string{"endpointslices watch": "HTTP/1.1", "services watch": "HTTP/1.1", "namespaces watch": "HTTP/2.0", "endpointslices list": "HTTP/2.0"}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, proto := range want {
		if s.protos[k] != proto {
			t.Errorf("%s went over %q, want %s (all: %v)", k, s.protos[k], proto, s.protos)
		}
	}
}

func TestSilentBusyWatchIsClosedAsACutStreamAndOneWithEventsIsNot(t *testing.T) {
	const idle, events, interval = 3 * time.Second, 40, 100 * time.Millisecond // events longer than the idle limit; gaps far shorter, even on a loaded machine
	s := newWatchServer(t, events, interval)
	a, err := newRestAPIIdle(s.restConfig(), idle)
	if err != nil {
		t.Fatal(err)
	}
	w, err := a.watch(context.Background(), "endpointslices", "", metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const limit = 20 * time.Second // the watch is stopped, and the test fails
	stopped := time.AfterFunc(limit, w.Stop)
	var last time.Time
	got := 0
	for ev := range w.ResultChan() {
		if ev.Type != watch.Added {
			t.Fatalf("event %d: %s %#v, want only the server's ADDED events and then the end of the watch", got, ev.Type, ev.Object)
		}
		got++
		last = time.Now()
	}
	silent := time.Since(last)
	if !stopped.Stop() {
		t.Fatalf("the watch was still open %v after it started, %v after its last event: a silent watch is not closed", limit, silent)
	}
	if got != events {
		t.Errorf("the watch ended after %d of its %d events, sent one every %v: it was cut while busy", got, events, interval)
	}
	// The limit runs from the client's last read, a little before this
	// test received the event it read.
	if slack := 250 * time.Millisecond; silent < idle-slack {
		t.Errorf("the watch ended %v after its last event, before the idle limit %v", silent, idle)
	}
	select {
	case <-s.hungUp:
	case <-time.After(10 * time.Second):
		t.Errorf("the server's connection is still open 10 s after the watch ended")
	}
}

// TestBusyWatchesAskToEndBeforeTheIdleLimit: a quiet cluster's watch gets
// no bookmark, so a busy watch asks the server to end it (timeoutSeconds)
// before it would be taken for dead; a streamed list keeps the reflector's
// timeout, and other resources' watches and lists are left alone.
func TestBusyWatchesAskToEndBeforeTheIdleLimit(t *testing.T) {
	a, err := newRestAPI(&rest.Config{Host: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	reflectors := ptr.To[int64](420)
	for _, c := range []struct {
		resource string
		o        metav1.ListOptions
		want     string
	}{
		{"endpointslices", metav1.ListOptions{Watch: true, TimeoutSeconds: reflectors}, "30"},
		{"endpointslices", metav1.ListOptions{Watch: true}, "30"},
		{"endpointslices", metav1.ListOptions{Watch: true, TimeoutSeconds: ptr.To[int64](20)}, "20"},
		{"endpointslices", metav1.ListOptions{Watch: true, TimeoutSeconds: reflectors, SendInitialEvents: ptr.To(true)}, "420"},
		{"endpointslices", metav1.ListOptions{TimeoutSeconds: reflectors}, "420"},
		{"services", metav1.ListOptions{Watch: true, TimeoutSeconds: reflectors}, "30"},
		{"namespaces", metav1.ListOptions{Watch: true, TimeoutSeconds: reflectors}, "420"},
	} {
		req, _, err := a.request(c.resource, "", &c.o)
		if err != nil {
			t.Fatal(err)
		}
		if got := req.URL().Query().Get("timeoutSeconds"); got != c.want {
			t.Errorf("%s watch=%v sendInitialEvents=%v: timeoutSeconds=%q, want %s (%v)", c.resource, c.o.Watch, c.o.SendInitialEvents != nil, got, c.want, busyWatchIdle)
		}
	}
}

// TestBusyWatchErrorsAreTheAPIServersErrors: a watch the server refuses
// (an expired version, no permission, too many requests, a failure) fails
// with the server's API error through the busy resources' client as through
// the shared one, so the reflector relists or backs off as it does for
// Services.
func TestBusyWatchErrorsAreTheAPIServersErrors(t *testing.T) {
	for _, c := range []struct {
		code   int32
		reason metav1.StatusReason
		is     func(error) bool
	}{
		{410, metav1.StatusReasonExpired, apierrors.IsResourceExpired},
		{403, metav1.StatusReasonForbidden, apierrors.IsForbidden},
		{429, metav1.StatusReasonTooManyRequests, apierrors.IsTooManyRequests},
		{500, metav1.StatusReasonInternalError, apierrors.IsInternalError},
	} {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(int(c.code))
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":%q,"code":%d}`, c.reason, c.code)
		}))
		s.EnableHTTP2 = true
		s.StartTLS()
		ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
		a, err := newRestAPI(&rest.Config{Host: s.URL, TLSClientConfig: rest.TLSClientConfig{CAData: ca}})
		if err != nil {
			t.Fatal(err)
		}
		for _, resource := range []string{"endpointslices", "services"} {
			for _, direct := range []bool{false, true} { // an informer's busy watch is a directWatch
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if direct {
					ctx = withApplier(ctx, applyFunc(func(watch.EventType, runtime.Object) error { return nil }))
				}
				w, err := a.watch(ctx, resource, "", metav1.ListOptions{TimeoutSeconds: ptr.To[int64](1)})
				cancel()
				if w != nil {
					w.Stop()
				}
				if !c.is(err) {
					t.Errorf("%s watch (applied in place: %v) answered %d %s: error %v (%T), want that API error", resource, direct, c.code, c.reason, err, err)
				}
			}
		}
		s.Close()
	}
}
