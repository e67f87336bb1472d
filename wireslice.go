package kubesvc

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The sparse decoding of EndpointSlices (wire.go), field numbers from
// k8s.io/api/discovery/v1/generated.proto. A readiness flip resends every
// endpoint of its slice, and the informers' transform keeps a few bytes of
// each: the decoder fills only the metadata of decodeObjectMeta and the
// addressType, and leaves the endpoints and ports in the message (a
// wireSlice), which the transform then reads straight into the
// endpointSlice it keeps. Of each endpoint it reads the addresses,
// ready, hostname, targetRef's kind and name, and zone; of each port its
// name, protocol and number: what apiSliceOf reads of client-go's objects.
// A transform that reads another field must have it read here too:
// TestSparseSliceTransformsMatch compares every slice transform's output
// on both decodings.

func init() {
	addSparse(discovery.SchemeGroupVersion.WithKind("EndpointSlice"), decodeWireSlice)
	addSparse(discovery.SchemeGroupVersion.WithKind("EndpointSliceList"), func(b []byte, l *wireSliceList) error {
		*l = wireSliceList{}
		return decodeList(b, &l.ListMeta, &l.Items, decodeWireSlice)
	})
}

// wireSlice is an EndpointSlice as the sparse decoder hands it to the
// informers: its metadata (what the reflector and the informers' keys read)
// and address type decoded, the rest still in msg, the EndpointSlice
// message, for the transform (endpointSlice). The message is the memory
// client-go decoded the object from: a list's body, which nothing writes
// again, or a watch event's object, in a buffer lent until the transform
// has read it (eventbuffers.go); a wireSlice is transformed once and then
// dropped (the informers keep the transform's output), and nothing the
// transform keeps points into msg.
type wireSlice struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	addressType discovery.AddressType
	msg         []byte
	buffer      *[]byte // what msg is in, if a watch event's lent buffer (eventbuffers.go)
}

// DeepCopyObject returns the object itself: a wireSlice is never changed.
func (s *wireSlice) DeepCopyObject() runtime.Object { return s }

// String names the slice: the reflector logs the objects its store
// refuses (a transform's error) as a key/value pair, which klog formats
// as a fmt.Stringer and klogSink with %v; either would print the message.
func (s *wireSlice) String() string {
	return fmt.Sprintf("EndpointSlice %s/%s (resourceVersion %s, %d bytes)", s.Namespace, s.Name, s.ResourceVersion, len(s.msg))
}

// GoString is String, for %#v.
func (s *wireSlice) GoString() string { return s.String() }

// wireSliceList is an EndpointSliceList of wireSlices.
type wireSliceList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []wireSlice // the name the reflector's meta.ExtractList looks for
}

// DeepCopyObject returns the list itself: it is never changed.
func (l *wireSliceList) DeepCopyObject() runtime.Object { return l }

func decodeWireSlice(b []byte, s *wireSlice) error {
	*s = wireSlice{msg: b}
	return eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1:
			return decodeObjectMeta(v, &s.ObjectMeta, true)
		case 4:
			s.addressType = interned(v, addressTypes...)
		}
		return nil
	})
}

// endpointSlice is the slice's endpointSlice for the options of keep, read
// from its message as apiSliceOf reads client-go's object; an error if the
// message is malformed.
func (s *wireSlice) endpointSlice(keep sliceKeeps) (*endpointSlice, error) {
	out := sliceHead(&s.ObjectMeta)
	v4, ok := family(s.addressType)
	if !ok {
		return out, nil
	}
	if keep.compact(s.Labels) {
		sum, err := wireSummary(s.msg, v4)
		out.endpoints = sum
		return out, err
	}
	// Sized for an address an endpoint, as the API server writes them
	// (an endpoint with several is fungible with one an address).
	if n := count(s.msg, 2); n > 0 {
		out.endpoints = make([]endpoint, 0, n)
	}
	it := fields{b: s.msg}
	for it.next() {
		var err error
		switch it.num {
		case 2:
			err = out.addWireEndpoint(it.v, v4, keep)
		case 3:
			err = out.addWirePort(it.v)
		}
		if err != nil {
			return nil, err
		}
	}
	if it.err != nil {
		return nil, it.err
	}
	out.finish()
	return out, nil
}

// wireEndpoint is what the transforms read of an Endpoint message, each
// field a slice of the message. Fields given twice are merged as protobuf
// merges them: the last value given wins, and a message (conditions,
// targetRef) given twice is merged field by field.
type wireEndpoint struct {
	msg      []byte // the Endpoint message
	ready    bool   // the ready condition; unknown counts as ready
	hostname []byte
	zone     []byte // nil if none: zoneID("") is no zone
	hasRef   bool   // a targetRef is given: read only for endpoint_pod_names
	addr     []byte // the first address
	addrs    int    // how many addresses
}

func readWireEndpoint(b []byte) (wireEndpoint, error) {
	e := wireEndpoint{msg: b, ready: true}
	it := fields{b: b}
	for it.next() {
		switch it.num {
		case 1:
			if e.addrs++; e.addrs == 1 {
				e.addr = it.v
			}
		case 2: // conditions
			c := fields{b: it.v}
			for c.next() {
				if c.num == 1 {
					e.ready = c.x != 0
				}
			}
			if c.err != nil {
				return e, c.err
			}
		case 3:
			e.hostname = it.v
		case 4:
			e.hasRef = true
		case 7:
			e.zone = it.v
		}
	}
	return e, it.err
}

// targetRef is the kind and name of the endpoint's targetRef.
func (e *wireEndpoint) targetRef() (kind, name []byte, err error) {
	if !e.hasRef {
		return nil, nil, nil
	}
	err = eachField(e.msg, func(num protowire.Number, v []byte, _ uint64) error {
		if num != 4 {
			return nil
		}
		return eachField(v, func(num protowire.Number, v []byte, _ uint64) error {
			switch num {
			case 1:
				kind = v
			case 3:
				name = v
			}
			return nil
		})
	})
	return kind, name, err
}

// eachAddress calls f with each address of the endpoint that an answer of
// a v4 (or IPv6) slice can carry (endpointAddr).
func (e *wireEndpoint) eachAddress(v4 bool, f func(ip netip.Addr)) {
	if e.addrs == 1 { // as the API server writes them
		if ip, ok := wireAddr(e.addr, v4); ok {
			f(ip)
		}
		return
	}
	for it := (fields{b: e.msg}); it.next(); { // read whole by readWireEndpoint already
		if it.num == 1 {
			if ip, ok := wireAddr(it.v, v4); ok {
				f(ip)
			}
		}
	}
}

// wireAddr is endpointAddr of an address in a message; a dotted quad
// without making a string of it.
func wireAddr(b []byte, v4 bool) (netip.Addr, bool) {
	if ip, ok := dottedQuad(b); ok {
		return ip, v4
	}
	return endpointAddr(string(b), v4)
}

// dottedQuad parses b if it is an IPv4 address as netip.ParseAddr takes
// one: four decimal numbers to 255, without leading zeros, between dots.
// false leaves b to ParseAddr (which may refuse it too).
func dottedQuad(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	i := 0
	for k := range ip {
		if k > 0 {
			if i == len(b) || b[i] != '.' {
				return netip.Addr{}, false
			}
			i++
		}
		start, n := i, 0
		for i < len(b) && i-start < 3 && b[i] >= '0' && b[i] <= '9' {
			n = n*10 + int(b[i]-'0')
			i++
		}
		if i == start || n > 255 || i-start > 1 && b[start] == '0' {
			return netip.Addr{}, false
		}
		ip[k] = byte(n)
	}
	if i != len(b) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(ip), true
}

// addWireEndpoint adds an endpoint an address of the Endpoint message b.
func (s *endpointSlice) addWireEndpoint(b []byte, v4 bool, keep sliceKeeps) error {
	e, err := readWireEndpoint(b)
	if err != nil {
		return err
	}
	ep := endpoint{ready: e.ready}
	if len(e.hostname) > 0 {
		ep.setHostname(strings.ToLower(string(e.hostname)))
	} else if keep.podNames {
		kind, name, err := e.targetRef()
		if err != nil {
			return err
		}
		if keep.podHostname(string(kind), string(name)) {
			ep.setHostname(strings.ToLower(string(name)))
			ep.podName = true
		}
	}
	if keep.zones {
		ep.zone = zoneID(string(e.zone))
	}
	e.eachAddress(v4, func(ip netip.Addr) {
		ep.at = addr16Of(ip)
		s.endpoints = append(s.endpoints, ep)
	})
	return nil
}

// addWirePort adds the port of the EndpointPort message b, if its name and
// protocol can be an SRV name's (endpointPort).
func (s *endpointSlice) addWirePort(b []byte) error {
	var (
		name   string
		proto  = corev1.ProtocolTCP
		num    int32
		hasNum bool
	)
	err := eachField(b, func(k protowire.Number, v []byte, x uint64) error {
		switch k {
		case 1:
			name = interned(v, portNames...)
		case 2:
			proto = interned(v, protocols...)
		case 3:
			num, hasNum = int32(x), true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if np, ok := endpointPort(name, proto, num, hasNum); ok {
		s.ports = append(s.ports, np)
	}
	return nil
}

// errSummarized ends wireSummary's walk at the first ready endpoint.
var errSummarized = errors.New("summarized")

// wireSummary is summary of the endpoints of the EndpointSlice message b.
func wireSummary(b []byte, v4 bool) ([]endpoint, error) {
	var out []endpoint
	err := eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		if num != 2 {
			return nil
		}
		e, err := readWireEndpoint(v)
		if err != nil {
			return err
		}
		has := false
		if e.eachAddress(v4, func(netip.Addr) { has = true }); !has {
			return nil
		}
		if e.ready {
			out = readySummary
			return errSummarized
		}
		out = notReadySummary
		return nil
	})
	if err == errSummarized {
		err = nil
	}
	return out, err
}
