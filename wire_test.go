package kubesvc

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/utils/ptr"
)

// clientGoProtobuf is client-go's own protobuf serializer for the scheme:
// what the sparse decoder is compared with.
var clientGoProtobuf = protobuf.NewSerializer(apiScheme, apiScheme)

// sparseProtobuf is the REST clients' protobuf decoder.
func sparseProtobuf(t testing.TB) runtime.Decoder {
	t.Helper()
	for _, info := range apiSerializers.SupportedMediaTypes() {
		if info.MediaType == runtime.ContentTypeProtobuf {
			return info.Serializer
		}
	}
	t.Fatal("the REST clients' serializers have no protobuf")
	return nil
}

func encodeProtobuf(t testing.TB, obj runtime.Object) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := clientGoProtobuf.Encode(obj, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRESTClientDecodesSparsely: the plugin's REST client lists
// EndpointSlices and Services through the sparse decoder (no field a
// transform does not read is filled), and other kinds through client-go's.
func TestRESTClientDecodesSparsely(t *testing.T) {
	sl := anySlice(rand.New(rand.NewPCG(3, 4)), 1)
	sl.AddressType, sl.Endpoints = discovery.AddressTypeIPv4, []discovery.Endpoint{{Addresses: []string{"10.0.0.1"}, NodeName: ptr.To("node-1")}}
	svc := clusterIPSvc("default", "web", []string{"10.96.0.1"})
	svc.UID, svc.Spec.SessionAffinity = "uid-1", corev1.ServiceAffinityClientIP
	lists := map[string]runtime.Object{
		"endpointslices": &discovery.EndpointSliceList{TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSliceList"},
			ListMeta: metav1.ListMeta{ResourceVersion: "9"}, Items: []discovery.EndpointSlice{*sl}},
		"services": &corev1.ServiceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceList"}, Items: []corev1.Service{*svc}},
		"namespaces": &corev1.NamespaceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NamespaceList"},
			Items: []corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "default", UID: "uid-2"}}}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", runtime.ContentTypeProtobuf)
		_, _ = w.Write(encodeProtobuf(t, lists[path.Base(r.URL.Path)]))
	}))
	defer srv.Close()
	a := restAPIAt(t, srv.URL)
	list := func(resource string) runtime.Object {
		got, err := a.list(t.Context(), resource, "", metav1.ListOptions{})
		if err != nil {
			t.Fatalf("list %s: %v", resource, err)
		}
		return got
	}
	slices, ok := list("endpointslices").(*wireSliceList)
	if !ok || len(slices.Items) != 1 || slices.Items[0].UID != "" || slices.Items[0].ManagedFields != nil || slices.Items[0].Name != sl.Name {
		t.Errorf("endpointslices were not decoded sparsely: got %#v", slices)
	} else if out, err := endpointSliceOf(&slices.Items[0], sliceKeeps{whole: true}); err != nil || len(out.(*endpointSlice).endpoints) != 1 ||
		out.(*endpointSlice).endpoints[0].ip() != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("the listed slice transforms to %+v (%v), want the endpoint 10.0.0.1", out, err)
	}
	if s := list("services").(*corev1.ServiceList).Items; len(s) != 1 || s[0].UID != "" || s[0].Spec.SessionAffinity != "" ||
		!reflect.DeepEqual(s[0].Spec.ClusterIPs, []string{"10.96.0.1"}) {
		t.Errorf("services were not decoded sparsely: got %+v", s)
	}
	if ns := list("namespaces").(*corev1.NamespaceList).Items; len(ns) != 1 || ns[0].UID != "uid-2" {
		t.Errorf("namespaces must be decoded whole by client-go: got %+v", ns)
	}
}

// TestRESTClientListsJSON: a server that answers a list in JSON (an
// aggregated or proxied API), with the list's kind or without, is listed
// into client-go's API types, which the transforms take as they take the
// sparse decoder's slices.
func TestRESTClientListsJSON(t *testing.T) {
	for _, body := range []string{
		`{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"9"},` +
			`"items":[{"metadata":{"namespace":"default","name":"web-1","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"]}]}]}`,
		`{"metadata":{"resourceVersion":"9"},` +
			`"items":[{"metadata":{"namespace":"default","name":"web-1","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"]}]}]}`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = w.Write([]byte(body))
		}))
		got, err := restAPIAt(t, srv.URL).list(t.Context(), "endpointslices", "", metav1.ListOptions{})
		srv.Close()
		l, ok := got.(*discovery.EndpointSliceList)
		if err != nil || !ok || l.ResourceVersion != "9" || len(l.Items) != 1 {
			t.Fatalf("listed %#v (%v) from %s, want an EndpointSliceList of one slice at resourceVersion 9", got, err, body)
		}
		out, err := toEndpointSlice(&l.Items[0])
		if sl, ok := out.(*endpointSlice); err != nil || !ok || sl.service != "web" || len(sl.endpoints) != 1 || sl.endpoints[0].ip() != netip.MustParseAddr("10.0.0.1") {
			t.Errorf("the JSON slice transforms to %+v (%v), want service web with 10.0.0.1", out, err)
		}
	}
}

// FuzzSparseDecode: whatever bytes come, the sparse decoder returns an
// object or an error, never panics; where both decoders accept the bytes,
// every transform makes the same of both (EndpointSlices and Services).
// The bytes are also a watch event's frame, which watchEvents decodes as
// client-go does.
func FuzzSparseDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 8 {
		f.Add(encodeProtobuf(f, anySlice(r, i)))
		f.Add(encodeProtobuf(f, anyService(r, i)))
		f.Add(anyWatchEvent(f, r, i))
	}
	dec := sparseProtobuf(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if diff := sameWatchEvent(data); diff != "" {
			t.Fatalf("as a watch event: %s", diff)
		}
		sparse, _, errSparse := dec.Decode(data, nil, nil)
		full, _, errFull := clientGoProtobuf.Decode(data, nil, nil)
		if errFull != nil || errSparse != nil {
			// The sparse decoder may refuse what client-go's generated
			// code lets pass (it ignores the wire type of a map entry's
			// fields, say): malformed messages no API server sends. What
			// it must accept, the random valid objects of the
			// TransformsMatch tests show.
			return
		}
		diff := ""
		switch g := full.(type) {
		case *discovery.EndpointSlice:
			s, ok := sparse.(*wireSlice)
			if !ok {
				// An envelope the sparse decoder leaves to client-go's
				// (an encoded one): client-go's object, as it is.
				if !reflect.DeepEqual(sparse, full) {
					t.Fatalf("decoded as %#v and %#v", sparse, full)
				}
				return
			}
			// The endpoints and ports are read by the transform: a refusal
			// of them comes from there (whole, with Pod names, it reads
			// every field any transform reads).
			if _, err := endpointSliceOf(s, sliceKeeps{podNames: true, whole: true}); err != nil {
				return
			}
			diff = sameForTransforms(s, g)
		case *corev1.Service:
			s, ok := sparse.(*corev1.Service)
			if !ok {
				t.Fatalf("decoded as %T and %T", sparse, full)
			}
			diff = sameServiceForTransform(s, g)
		}
		if diff != "" {
			t.Fatalf("the decodings differ for %s", diff)
		}
	})
}
