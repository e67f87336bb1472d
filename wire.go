package kubesvc

import (
	"bytes"
	"fmt"
	"reflect"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Sparse decoding. The API server sends Kubernetes' protobuf encoding (the
// clients ask for it, setup.go), and client-go's generated code decodes it
// into whole API objects: every field, each string and pointer its own
// allocation. For the objects that change all day (EndpointSlices: a
// readiness flip resends every endpoint of the slice) the informers'
// transforms then keep a few bytes of them, and the rest is garbage that the
// collector pays for. The decoders here fill only what the transforms
// read: a Service's API type with those fields (wireservice.go), and an
// EndpointSlice's metadata and address type, its endpoints and ports left
// in the message for the transform to read into what it keeps (a
// wireSlice, wireslice.go); every other kind goes to client-go's decoder,
// and the transforms take client-go's objects too. Reference: the wire
// format (https://protobuf.dev/programming-guides/encoding/), and the
// envelope of k8s.io/apimachinery/pkg/runtime/serializer/protobuf: the
// magic "k8s\x00", then a runtime.Unknown message {typeMeta{apiVersion,
// kind}, raw, contentEncoding, contentType} whose raw is the object.

// protobufMagic starts every object in Kubernetes' protobuf encoding.
var protobufMagic = []byte("k8s\x00")

// sparseKind is a kind the sparse decoders fill: new makes the empty object
// (of type typ), decode fills one from the object's message.
type sparseKind struct {
	typ    reflect.Type
	new    func() runtime.Object
	decode func(b []byte, into runtime.Object) error
}

// sparseKinds are the kinds decoded sparsely, by group-version and kind.
var sparseKinds = map[schema.GroupVersionKind]sparseKind{}

// addSparse makes kind gvk, of Go type T, one of the sparseKinds.
func addSparse[T any, P interface {
	*T
	runtime.Object
}](gvk schema.GroupVersionKind, decode func(b []byte, into P) error) {
	sparseKinds[gvk] = sparseKind{
		typ:    reflect.TypeFor[P](),
		new:    func() runtime.Object { return P(new(T)) },
		decode: func(b []byte, into runtime.Object) error { return decode(b, into.(P)) },
	}
}

// decodeList fills a list's metadata and items (fields 1 and 2 of every
// Kubernetes list), each item with decodeItem.
func decodeList[T any](b []byte, meta *metav1.ListMeta, items *[]T, decodeItem func([]byte, *T) error) error {
	*items = make([]T, 0, count(b, 2))
	return eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1:
			return decodeListMeta(v, meta)
		case 2:
			*items = append(*items, *new(T))
			return decodeItem(v, &(*items)[len(*items)-1])
		}
		return nil
	})
}

// sparseCodecs is the REST clients' serializers: client-go's for the
// scheme, with the protobuf decoder swapped for sparseDecoder, and the
// protobuf stream's for watchEvents (wireevent.go).
type sparseCodecs struct {
	runtime.NegotiatedSerializer
	infos []runtime.SerializerInfo
}

func newSparseCodecs(ns runtime.NegotiatedSerializer) sparseCodecs {
	infos := append([]runtime.SerializerInfo(nil), ns.SupportedMediaTypes()...)
	for i := range infos {
		if infos[i].MediaType == runtime.ContentTypeProtobuf {
			infos[i].Serializer = sparseDecoder{infos[i].Serializer}
			if ss := infos[i].StreamSerializer; ss != nil {
				stream := *ss
				stream.Serializer = watchEvents{ss.Serializer}
				infos[i].StreamSerializer = &stream
			}
		}
	}
	return sparseCodecs{NegotiatedSerializer: ns, infos: infos}
}

func (c sparseCodecs) SupportedMediaTypes() []runtime.SerializerInfo { return c.infos }

// sparseDecoder decodes the sparseKinds itself and leaves everything else
// (and all encoding) to client-go's protobuf serializer.
type sparseDecoder struct{ runtime.Serializer }

// Decode decodes data, an object in Kubernetes' protobuf encoding, into into
// (nil: a new object). An object of a sparse kind gets only the fields its
// transform reads; a malformed message is an error, as with client-go's.
func (d sparseDecoder) Decode(data []byte, gvk *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	buffer := borrowed(data) // a watch event's EndpointSlice or Service (eventbuffers.go)
	actual, raw, ok := envelope(data)
	kind, sparse := sparseKinds[actual]
	if !ok || !sparse || into != nil && reflect.TypeOf(into) != kind.typ {
		return d.Serializer.Decode(data, gvk, into)
	}
	obj := into
	if obj == nil {
		obj = kind.new()
	}
	err := kind.decode(raw, obj)
	s, isSlice := obj.(*wireSlice)
	switch {
	case isSlice && err == nil:
		s.buffer = buffer // the slice transform reads the message, then gives it back
	case buffer != nil:
		if isSlice {
			s.msg = nil // the buffer's, which goes back
		}
		eventBuffers.Put(buffer) // every other kind's decoding copies what it keeps
	}
	if err != nil {
		return nil, &actual, fmt.Errorf("decoding %s: %w", actual.Kind, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(actual)
	return obj, &actual, nil
}

// envelope reads the kind and the object's message out of data; false if
// data is not a plain (unencoded) object in Kubernetes' protobuf encoding.
func envelope(data []byte) (schema.GroupVersionKind, []byte, bool) {
	apiVersion, kind, raw, ok := envelopeFields(data)
	if !ok {
		return schema.GroupVersionKind{}, nil, false
	}
	gv, known := knownGroupVersions[apiVersion]
	if !known {
		var err error
		if gv, err = schema.ParseGroupVersion(apiVersion); err != nil {
			return schema.GroupVersionKind{}, nil, false
		}
	}
	return gv.WithKind(kind), raw, true
}

// knownGroupVersions are the apiVersions interned (apiVersions), parsed
// once rather than at every object.
var knownGroupVersions = func() map[string]schema.GroupVersion {
	m := make(map[string]schema.GroupVersion, len(apiVersions))
	for _, v := range apiVersions {
		gv, err := schema.ParseGroupVersion(v)
		if err != nil {
			panic(err) // a constant of the list above
		}
		m[v] = gv
	}
	return m
}()

// envelopeFields reads the apiVersion and kind (interned: no allocation for
// the sparse kinds) and the object's message out of data; false if data is
// not a plain (unencoded) object in Kubernetes' protobuf encoding.
func envelopeFields(data []byte) (apiVersion, kind string, raw []byte, ok bool) {
	plain := true
	b, ok := bytes.CutPrefix(data, protobufMagic)
	if !ok {
		return "", "", nil, false
	}
	err := eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1: // typeMeta
			return eachField(v, func(num protowire.Number, v []byte, _ uint64) error {
				switch num {
				case 1:
					apiVersion = interned(v, apiVersions...)
				case 2:
					kind = interned(v, sparseKindNames...)
				}
				return nil
			})
		case 2:
			raw = v
		case 3: // contentEncoding
			plain = len(v) == 0
		}
		return nil
	})
	if err != nil || !plain {
		return "", "", nil, false
	}
	return apiVersion, kind, raw, true
}

// interned is v as the string of the one of known it spells, shared, or
// else as a string of its own ("" never allocates either): the decoders
// share the strings of the values most objects carry.
func interned[S ~string](v []byte, known ...S) S {
	for _, k := range known {
		if string(v) == string(k) {
			return k
		}
	}
	return S(v)
}

// The values interned, by field.
var (
	apiVersions     = []string{corev1.SchemeGroupVersion.String(), discovery.SchemeGroupVersion.String()}
	sparseKindNames = []string{"Service", "ServiceList", "EndpointSlice", "EndpointSliceList"}
	// sliceLabels are the labels (keys and values) every EndpointSlice of
	// the EndpointSlice controller carries.
	sliceLabels  = []string{discovery.LabelServiceName, discovery.LabelManagedBy, endpointSliceController, corev1.IsHeadlessService}
	addressTypes = []discovery.AddressType{discovery.AddressTypeIPv4, discovery.AddressTypeIPv6}
	protocols    = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}
	serviceTypes = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName}
	clusterIPs = []string{corev1.ClusterIPNone} // every headless service's
	portNames  = []string{"http", "https", "grpc", "metrics", "dns", "dns-tcp"}
)

// eachField calls f with each field of the message b, in order: v holds a
// length-delimited field's bytes, x a varint field's value. Fields of the
// fixed-width types are skipped, as no field the decoders read has one. An
// error is a malformed message, or f's.
func eachField(b []byte, f func(num protowire.Number, v []byte, x uint64) error) error {
	it := fields{b: b}
	for it.next() {
		if err := f(it.num, it.v, it.x); err != nil {
			return err
		}
	}
	return it.err
}

// count is the number of times field num occurs in the message b (0 if b
// is malformed: the decode that follows finds out).
func count(b []byte, num protowire.Number) int {
	n := 0
	_ = eachField(b, func(k protowire.Number, _ []byte, _ uint64) error {
		if k == num {
			n++
		}
		return nil
	})
	return n
}

// decodeObjectMeta fills what the transforms read of an ObjectMeta (and what
// the informers need): name, namespace, resourceVersion, labels if labels
// (an EndpointSlice's say its service; a Service's are read by nothing, and
// a malformed one is still refused) and annotations (a bookmark's
// k8s.io/initial-events-end among them).
func decodeObjectMeta(b []byte, m *metav1.ObjectMeta, labels bool) error {
	return eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1:
			m.Name = string(v)
		case 3:
			m.Namespace = string(v)
		case 6:
			m.ResourceVersion = string(v)
		case 11:
			if !labels {
				_, _, err := mapEntry(v)
				return err
			}
			return decodeMapEntry(v, &m.Labels)
		case 12:
			return decodeMapEntry(v, &m.Annotations)
		}
		return nil
	})
}

// decodeListMeta fills a list's resourceVersion, continue token and
// remaining item count, which the reflector pages and resumes by.
func decodeListMeta(b []byte, m *metav1.ListMeta) error {
	return eachField(b, func(num protowire.Number, v []byte, x uint64) error {
		switch num {
		case 2:
			m.ResourceVersion = string(v)
		case 3:
			m.Continue = string(v)
		case 4:
			n := int64(x)
			m.RemainingItemCount = &n
		}
		return nil
	})
}

// decodeMapEntry adds one entry of a map<string, string> field to *m.
func decodeMapEntry(b []byte, m *map[string]string) error {
	key, value, err := mapEntry(b)
	if err != nil {
		return err
	}
	if *m == nil {
		*m = make(map[string]string, 4)
	}
	(*m)[interned(key, sliceLabels...)] = interned(value, sliceLabels...)
	return nil
}

// mapEntry is the key and value of b, an entry of a map<string, string>
// field, in b's memory. A key or value of another wire type than a
// string's is refused: client-go's generated code reads it as a string
// whatever its type, and skipping it would make another map of the same
// bytes.
func mapEntry(b []byte) (key, value []byte, err error) {
	it := fields{b: b, all: true}
	for it.next() {
		if it.num != 1 && it.num != 2 {
			continue
		}
		if it.typ != protowire.BytesType {
			return nil, nil, fmt.Errorf("proto: map entry field %d of wire type %d", it.num, it.typ)
		}
		if it.num == 1 {
			key = it.v
		} else {
			value = it.v
		}
	}
	return key, value, it.err
}
