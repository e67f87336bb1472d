package kubesvc

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// sliceFrames is a watch of EndpointSlices in protobuf, as the API server
// streams it: event i modifies slice s with i%150 endpoints, addressed by i.
func sliceFrames(t *testing.T, events int) http.HandlerFunc {
	var frames [][]byte
	for i := range events {
		es := &discovery.EndpointSlice{
			TypeMeta:    metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
			ObjectMeta:  metav1.ObjectMeta{Namespace: "n", Name: "s", ResourceVersion: fmt.Sprint(i + 2), Labels: map[string]string{discovery.LabelServiceName: "s"}},
			AddressType: discovery.AddressTypeIPv4,
		}
		for j := range i % 150 {
			es.Endpoints = append(es.Endpoints, ep(fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j+1), fmt.Sprintf("h-%d-%d", i, j), true))
		}
		ev := &metav1.WatchEvent{Type: "MODIFIED"}
		ev.Object.Raw = encodeProtobuf(t, es)
		b, err := ev.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, binary.BigEndian.AppendUint32(nil, uint32(len(b))), b)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf;stream=watch")
		for _, f := range frames {
			w.Write(f)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
}

// protobufAPIAt is the plugin's API client for a test server at url that
// speaks only protobuf.
func protobufAPIAt(t *testing.T, url string) *restAPI {
	t.Helper()
	a, err := newRestAPIIdle(&rest.Config{Host: url, ContentConfig: rest.ContentConfig{
		ContentType: "application/vnd.kubernetes.protobuf", AcceptContentTypes: "application/vnd.kubernetes.protobuf"}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Watched EndpointSlices come through client-go's watch decoder in
// buffers lent to each event's object and given back once the slice is
// transformed: every event's slice is what the API server sent, although
// the stream decodes the next event while this one is transformed, and
// every buffer lent is taken.
func TestWatchedSlicesAreIntactInRecycledBuffers(t *testing.T) {
	const events = 400
	srv := httptest.NewServer(sliceFrames(t, events))
	t.Cleanup(srv.Close)
	a := protobufAPIAt(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := a.watch(ctx, "endpointslices", "", metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	lentOnce := false
	for i := range events {
		ev := <-w.ResultChan()
		ws, ok := ev.Object.(*wireSlice)
		if !ok {
			t.Fatalf("event %d: %v %T, want a wireSlice", i, ev.Type, ev.Object)
		}
		lentOnce = lentOnce || ws.buffer != nil
		time.Sleep(time.Duration(i%3) * time.Millisecond) // the stream reads ahead meanwhile
		out, err := toEndpointSlice(ws)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		var got, want []string
		for _, e := range out.(*endpointSlice).endpoints {
			got = append(got, e.ip().String()+" "+e.hostname())
		}
		for j := range i % 150 {
			want = append(want, fmt.Sprintf("10.%d.%d.%d h-%d-%d", i/250, i%250, j+1, i, j))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("event %d: the slice holds %s, want %s", i, strings.Join(got, ", "), strings.Join(want, ", "))
		}
		if ws.buffer != nil || ws.msg != nil {
			t.Fatalf("event %d: the transformed slice still holds its message", i)
		}
	}
	if !lentOnce {
		t.Error("no event's slice came in a lent buffer")
	}
	if n := lent.Load(); n != 0 {
		t.Errorf("%d buffers lent and not taken", n)
	}
}
