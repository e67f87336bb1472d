package kubesvc

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// anySlice is an EndpointSlice with a bit of everything the API allows,
// and fields no transform reads, so that the decoders must skip them.
func anySlice(r *rand.Rand, i int) *discovery.EndpointSlice {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	es := &discovery.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace: pick("default", "ns-b"), Name: fmt.Sprintf("web-%d", i), ResourceVersion: fmt.Sprint(r.IntN(1e6)),
			UID: "0c5e6f1a-1111-4222-8333-444455556666", Generation: 3, CreationTimestamp: metav1.Unix(1700000000, 0),
			Labels:          map[string]string{},
			Annotations:     map[string]string{},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: "web", UID: "u"}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate,
				FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:endpoints":{}}`)}},
		},
		AddressType: discovery.AddressType(pick("IPv4", "IPv4", "IPv6", "FQDN")),
	}
	for _, kv := range [][2]string{{discovery.LabelServiceName, pick("web", "Web", "")}, {discovery.LabelManagedBy, pick(endpointSliceController, "someone")},
		{corev1.IsHeadlessService, ""}, {mcs.LabelServiceName, "web"}, {mcs.LabelSourceCluster, pick("east", "west")}, {"app", "x"}} {
		if r.IntN(3) > 0 {
			es.Labels[kv[0]] = kv[1]
		}
	}
	if r.IntN(2) == 0 {
		es.Annotations[corev1.EndpointsLastChangeTriggerTime] = pick("2026-11-30T10:00:00.123Z", "garbage")
	}
	for range r.IntN(4) {
		p := discovery.EndpointPort{AppProtocol: ptr.To("http")}
		if r.IntN(4) > 0 {
			p.Name = ptr.To(pick("http", "", "Metrics", "bad_name"))
		}
		if r.IntN(4) > 0 {
			p.Protocol = ptr.To(corev1.Protocol(pick("TCP", "UDP", "SCTP", "Weird")))
		}
		if r.IntN(6) > 0 {
			p.Port = ptr.To(int32(r.IntN(70000) - 10))
		}
		es.Ports = append(es.Ports, p)
	}
	for j := range r.IntN(40) {
		es.Endpoints = append(es.Endpoints, anyEndpoint(r, j))
	}
	return es
}

func anyEndpoint(r *rand.Rand, j int) discovery.Endpoint {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	addr := func() string {
		return pick(fmt.Sprintf("10.1.%d.%d", r.IntN(3), r.IntN(256)), fmt.Sprintf("fd00::%x", r.IntN(500)), "::ffff:10.1.0.7", "fe80::1%eth0", "nonsense",
			"10.01.0.1", "010.1.0.1", "10.1.0.256", "0.0.0.0", "10.1.0.7 ", "1.2.3.4.5", "::ffff:a01:8", "fd00::10.1.0.9", "FD00::A", "")
	}
	b := func() *bool {
		if r.IntN(4) == 0 {
			return nil
		}
		return ptr.To(r.IntN(3) > 0)
	}
	e := discovery.Endpoint{
		Conditions: discovery.EndpointConditions{Ready: b(), Serving: b(), Terminating: b()},
		NodeName:   ptr.To("node-1"),
		Hints:      &discovery.EndpointHints{ForZones: []discovery.ForZone{{Name: "a"}}},
	}
	for range r.IntN(3) + r.IntN(2) {
		e.Addresses = append(e.Addresses, addr())
	}
	if r.IntN(3) == 0 {
		e.Hostname = ptr.To(pick("db-0", "DB-1", "", "no.dots", fmt.Sprintf("h%d", j)))
	}
	if r.IntN(3) > 0 {
		e.TargetRef = &corev1.ObjectReference{Kind: pick("Pod", "Pod", "Node"), Namespace: "default", Name: pick("web-abc", "Web-X", "a.b", fmt.Sprintf("p%d", j)), UID: "u"}
	}
	if r.IntN(2) == 0 {
		e.Zone = ptr.To(pick(fmt.Sprintf("zone-%d", r.IntN(12)), "", "Zone-1")) // more zones than a slice's array holds
	}
	if r.IntN(5) == 0 {
		e.DeprecatedTopology = map[string]string{"k": "v"}
	}
	return e
}

// sliceTransforms are every transform of EndpointSlices, each option set.
func sliceTransforms() map[string]func(any) (any, error) {
	out := map[string]func(any) (any, error){"toEndpointSlice": toEndpointSlice, "toMulticlusterSlice": toMulticlusterSlice}
	for _, k := range []sliceKeeps{{podNames: true}, {zones: true}, {whole: true}, {podNames: true, zones: true, whole: true}} {
		out[fmt.Sprintf("endpointSliceOf%+v", k)] = func(obj any) (any, error) { return endpointSliceOf(obj, k) }
		out[fmt.Sprintf("multiclusterSliceOf%+v", k)] = func(obj any) (any, error) { return multiclusterSliceOf(obj, k) }
	}
	return out
}

// sameForTransforms reports how two decodings of one slice differ for the
// transforms: in what the informers read of them, or in any transform's
// output; "" if in nothing.
func sameForTransforms(sparse *wireSlice, full *discovery.EndpointSlice) string {
	if sparse.Name != full.Name || sparse.Namespace != full.Namespace || sparse.ResourceVersion != full.ResourceVersion ||
		!reflect.DeepEqual(sparse.Labels, full.Labels) || !reflect.DeepEqual(sparse.Annotations, full.Annotations) {
		return fmt.Sprintf("metadata: sparse %s/%s@%s %v %v, client-go %s/%s@%s %v %v", sparse.Namespace, sparse.Name, sparse.ResourceVersion,
			sparse.Labels, sparse.Annotations, full.Namespace, full.Name, full.ResourceVersion, full.Labels, full.Annotations)
	}
	for name, tf := range sliceTransforms() {
		a, errA := tf(sparse)
		b, errB := tf(full)
		if !sameTransformed(a, b) || (errA == nil) != (errB == nil) {
			return fmt.Sprintf("%s: sparse %s (%v), client-go %s (%v)", name, transformedText(a), errA, transformedText(b), errB)
		}
	}
	return ""
}

// decodedAlike fails t unless slice i, encoded as data, decodes with both
// decoders and every transform makes the same of both decodings.
func decodedAlike(t *testing.T, dec runtime.Decoder, i int, data []byte) {
	t.Helper()
	full, _, err := clientGoProtobuf.Decode(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sparse, _, err := dec.Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("slice %d: sparse decoding failed where client-go's did not: %v", i, err)
	}
	if diff := sameForTransforms(sparse.(*wireSlice), full.(*discovery.EndpointSlice)); diff != "" {
		t.Fatalf("slice %d: the decodings differ for %s", i, diff)
	}
}

func TestSparseSliceTransformsMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 13))
	dec := sparseProtobuf(t)
	for i := range 500 {
		decodedAlike(t, dec, i, encodeProtobuf(t, anySlice(r, i)))
	}
}

// TestSparseSliceMergedFieldsMatch: fields given twice, as protobuf
// merges them (a message's encodings one after the other are its merge):
// the slice's metadata and address type, and within an endpoint or port
// its hostname, zone, conditions and target reference, each read as
// client-go reads them.
func TestSparseSliceMergedFieldsMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 37))
	dec := sparseProtobuf(t)
	marshal := func(m interface{ Marshal() ([]byte, error) }) []byte {
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for i := range 300 {
		first, second := anySlice(r, i), anySlice(r, i)
		first.Endpoints, first.Ports = nil, nil
		raw := append(marshal(first), marshal(second)...)
		for j := range r.IntN(20) {
			e1, e2 := anyEndpoint(r, j), anyEndpoint(r, j)
			raw = protowire.AppendTag(raw, 2, protowire.BytesType)
			raw = protowire.AppendBytes(raw, append(marshal(&e1), marshal(&e2)...))
		}
		for range r.IntN(3) {
			p1, p2 := anySlice(r, i).Ports, anySlice(r, i).Ports
			if len(p1) > 0 && len(p2) > 0 {
				raw = protowire.AppendTag(raw, 3, protowire.BytesType)
				raw = protowire.AppendBytes(raw, append(marshal(&p1[0]), marshal(&p2[0])...))
			}
		}
		u := &runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}, Raw: raw}
		decodedAlike(t, dec, i, append([]byte("k8s\x00"), marshal(u)...))
	}
}

// TestSparseSliceListPages: a list's items and the list metadata the
// reflector pages and resumes by come through.
func TestSparseSliceListPages(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	list := &discovery.EndpointSliceList{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSliceList"},
		ListMeta: metav1.ListMeta{ResourceVersion: "4711", Continue: "next-page", RemainingItemCount: ptr.To[int64](12)},
	}
	for i := range 30 {
		list.Items = append(list.Items, *anySlice(r, i))
	}
	data := encodeProtobuf(t, list)
	got, _, err := sparseProtobuf(t).Decode(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := clientGoProtobuf.Decode(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, full := got.(*wireSliceList), want.(*discovery.EndpointSliceList)
	if l.ResourceVersion != "4711" || l.Continue != "next-page" || l.RemainingItemCount == nil || *l.RemainingItemCount != 12 {
		t.Errorf("list metadata: got %+v, want resourceVersion 4711, continue next-page, 12 remaining", l.ListMeta)
	}
	if len(l.Items) != len(list.Items) {
		t.Fatalf("got %d items, want %d", len(l.Items), len(list.Items))
	}
	for i := range l.Items {
		if diff := sameForTransforms(&l.Items[i], &full.Items[i]); diff != "" {
			t.Errorf("item %d differs for %s", i, diff)
		}
	}
}

// BenchmarkDecodeSlice decodes and transforms a slice of 100 endpoints as
// the EndpointSlice controller writes them (conditions, node, target Pod),
// as each readiness flip in it is delivered: with client-go's decoder and
// with the sparse one.
func BenchmarkDecodeSlice(b *testing.B) {
	es := &discovery.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench-01", Name: "big-3", ResourceVersion: "123456", UID: "0c5e6f1a-1111-4222-8333-444455556666",
			CreationTimestamp: metav1.Unix(1700000000, 0), Labels: map[string]string{discovery.LabelServiceName: "big",
				discovery.LabelManagedBy: endpointSliceController, corev1.IsHeadlessService: ""},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate,
				FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:labels":{}},"f:ports":{}}`)}}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for j := range 100 {
		es.Endpoints = append(es.Endpoints, discovery.Endpoint{
			Addresses:  []string{fmt.Sprintf("10.200.3.%d", j+1)},
			Conditions: discovery.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
			NodeName:   ptr.To(fmt.Sprintf("node-%03d", j%37)),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "bench-01", Name: fmt.Sprintf("big-3-%d", j), UID: "0c5e6f1a-1111-4222-8333-444455556666"},
		})
	}
	data := encodeProtobuf(b, es)
	for _, d := range []struct {
		name string
		dec  runtime.Decoder
	}{{"ClientGo", clientGoProtobuf}, {"Sparse", sparseProtobuf(b)}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				obj, _, err := d.dec.Decode(data, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := toEndpointSlice(obj); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTransformsKeepNothingOfTheMessage: no string a slice transform keeps
// (its key and service, hostnames, Pod names, port names) points into the
// message the sparse decoder read, which it would keep alive in the
// informer's store.
func TestTransformsKeepNothingOfTheMessage(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	dec := sparseProtobuf(t)
	kept := 0
	for i := range 200 {
		obj, _, err := dec.Decode(encodeProtobuf(t, anySlice(r, i)), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		msg := obj.(*wireSlice).msg
		inMsg := func(s string) bool {
			p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.SliceData(msg)))
			return s != "" && p >= lo && p < lo+uintptr(cap(msg))
		}
		for name, tf := range sliceTransforms() {
			out, err := tf(obj)
			if err != nil {
				t.Fatalf("slice %d, %s: %v", i, name, err)
			}
			sl := out.(*endpointSlice)
			if inMsg(sl.key()) || inMsg(sl.service) {
				t.Fatalf("slice %d, %s: the stored key %q or service %q is a substring of the decoded message", i, name, sl.key(), sl.service)
			}
			for _, ep := range sl.endpoints {
				kept++
				if inMsg(ep.hostname()) {
					t.Fatalf("slice %d, %s: the stored hostname %q is a substring of the decoded message", i, name, ep.hostname())
				}
			}
			for _, p := range sl.ports {
				if inMsg(p.name) {
					t.Fatalf("slice %d, %s: the stored port name %q is a substring of the decoded message", i, name, p.name)
				}
			}
		}
	}
	if kept == 0 {
		t.Fatal("no transform kept an endpoint: the test checked nothing")
	}
}

// TestDottedQuadParsesAsParseAddr: an address the fast path takes is the
// one netip.ParseAddr makes of it, over random near-addresses (leading
// zeros, numbers past 255, missing or extra parts, other characters).
func TestDottedQuadParsesAsParseAddr(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	parts := []string{"0", "1", "9", "10", "99", "100", "255", "256", "300", "00", "01", "007", "1000", "", "a", "-1", " 1", "1 ", "+1"}
	taken := 0
	for range 20000 {
		s := ""
		for k := range 3 + r.IntN(3) {
			if k > 0 {
				s += [...]string{".", ".", ".", ":", ".."}[r.IntN(5)]
			}
			s += parts[r.IntN(len(parts))]
		}
		ip, ok := dottedQuad([]byte(s))
		want, err := netip.ParseAddr(s)
		if ok && (err != nil || ip != want) {
			t.Fatalf("dottedQuad(%q) = %v, ParseAddr gives %v (%v)", s, ip, want, err)
		}
		if !ok && err == nil && want.Is4() {
			t.Fatalf("dottedQuad(%q) refused an address ParseAddr takes: %v", s, want)
		}
		if ok {
			taken++
		}
	}
	if taken == 0 {
		t.Fatal("no address was taken: the test compared nothing")
	}
}

// TestMalformedSliceIsRefusedByTheTransform: the endpoints of a decoded
// slice are read by the transform, which refuses a malformed one with an
// error (the reflector then logs the slice by name, not its bytes) rather
// than keeping what it read of it.
func TestMalformedSliceIsRefusedByTheTransform(t *testing.T) {
	es := anySlice(rand.New(rand.NewPCG(1, 1)), 1)
	es.AddressType, es.Labels = discovery.AddressTypeIPv4, map[string]string{discovery.LabelServiceName: "web"}
	es.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.0.0.1"}}, {Addresses: []string{"10.0.0.2"}, Hostname: ptr.To("db-0")}}
	data := encodeProtobuf(t, es)
	obj, _, err := sparseProtobuf(t).Decode(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws := obj.(*wireSlice)
	// The second endpoint's hostname field claims more bytes than follow.
	at := bytes.Index(ws.msg, []byte("db-0"))
	if at < 2 {
		t.Fatalf("no hostname in the message")
	}
	ws.msg = slices.Clone(ws.msg)
	ws.msg[at-1] = 200
	out, err := endpointSliceOf(ws, sliceKeeps{})
	if err == nil || out != nil {
		t.Fatalf("a malformed endpoint was transformed into %#v (%v), want only an error", out, err)
	}
	for _, format := range []string{"%v", "%+v", "%s", "%#v"} {
		if s := fmt.Sprintf(format, ws); strings.Contains(s, "db-0") || strings.Contains(s, "100 98 45 48") || !strings.Contains(s, es.Name) {
			t.Errorf("the slice is logged (%s) as %q: want its name, not its message", format, s)
		}
	}
}
