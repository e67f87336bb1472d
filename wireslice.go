package kubesvc

import (
	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// The sparse decoding of EndpointSlices (wire.go), field numbers from
// k8s.io/api/discovery/v1/generated.proto. Of an EndpointSlice it fills the
// metadata of decodeObjectMeta, addressType, the ports (name, protocol,
// port), and of each endpoint its addresses, ready/serving/terminating,
// hostname, targetRef's kind and name, and zone: what toEndpointSlice,
// endpointSliceOf and toMulticlusterSlice read. A transform that reads
// another field must have it added here: TestSparseSliceTransformsMatch
// compares every slice transform's output on both decodings.

func init() {
	addSparse(discovery.SchemeGroupVersion.WithKind("EndpointSlice"), decodeSlice)
	addSparse(discovery.SchemeGroupVersion.WithKind("EndpointSliceList"), func(b []byte, l *discovery.EndpointSliceList) error {
		*l = discovery.EndpointSliceList{}
		return decodeList(b, &l.ListMeta, &l.Items, decodeSlice)
	})
}

// The conditions of every decoded endpoint point at these: decoded objects
// are only read (by the transforms), never changed.
var (
	condTrue  = true
	condFalse = false
)

// sliceDecoding holds what the endpoints of one slice share: their
// addresses and target references are carved from one array each, and a
// zone is a string once per slice. The strings of the addresses and of the
// target references' names are substrings of one copy of the slice's
// message (text): one allocation, not two an endpoint. No transform keeps
// them (addresses are parsed; a Pod name kept for endpoint_pod_names is
// cloned), which would keep the whole copy alive.
type sliceDecoding struct {
	raw   []byte // the slice's message, which the fields are slices of
	text  string // string(raw), made when first needed
	addrs []string
	refs  []corev1.ObjectReference
	zones []string
}

func decodeSlice(b []byte, es *discovery.EndpointSlice) error {
	n := count(b, 2)
	*es = discovery.EndpointSlice{Endpoints: make([]discovery.Endpoint, 0, n)}
	d := sliceDecoding{raw: b, addrs: make([]string, 0, n)}
	return eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1:
			return decodeObjectMeta(v, &es.ObjectMeta)
		case 2:
			es.Endpoints = append(es.Endpoints, discovery.Endpoint{})
			return d.endpoint(v, &es.Endpoints[len(es.Endpoints)-1], n)
		case 3:
			es.Ports = append(es.Ports, discovery.EndpointPort{})
			return decodeSlicePort(v, &es.Ports[len(es.Ports)-1])
		case 4:
			es.AddressType = interned(v, addressTypes...)
		}
		return nil
	})
}

func (d *sliceDecoding) endpoint(b []byte, e *discovery.Endpoint, n int) error {
	first := len(d.addrs)
	err := eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1:
			d.addrs = append(d.addrs, d.str(v))
		case 2:
			return decodeConditions(v, &e.Conditions)
		case 3:
			h := string(v)
			e.Hostname = &h
		case 4:
			if e.TargetRef == nil { // a field given twice is merged, as protobuf does
				e.TargetRef = d.ref(n)
			}
			return d.targetRef(v, e.TargetRef)
		case 7:
			e.Zone = d.zone(v)
		}
		return nil
	})
	e.Addresses = d.addrs[first:len(d.addrs):len(d.addrs)]
	return err
}

// str is v, a field of the slice's message, as a substring of text.
func (d *sliceDecoding) str(v []byte) string {
	// v is raw[off:off+len(v)]: eachField and protowire slice without
	// capping capacity, so off is what capacity v lacks.
	off := cap(d.raw) - cap(v)
	if off < 0 || off+len(v) > len(d.raw) {
		return string(v)
	}
	if d.text == "" {
		d.text = string(d.raw)
	}
	return d.text[off : off+len(v)]
}

// ref is a new target reference, from the slice's array of n while it
// lasts (a reference's pointer must stay: the array never grows).
func (d *sliceDecoding) ref(n int) *corev1.ObjectReference {
	if d.refs == nil {
		d.refs = make([]corev1.ObjectReference, 0, n)
	}
	if len(d.refs) == cap(d.refs) {
		return &corev1.ObjectReference{}
	}
	d.refs = append(d.refs, corev1.ObjectReference{})
	return &d.refs[len(d.refs)-1]
}

// zone is the slice's string for zone v: few zones, many endpoints.
func (d *sliceDecoding) zone(v []byte) *string {
	for i := range d.zones {
		if d.zones[i] == string(v) {
			return &d.zones[i]
		}
	}
	if d.zones == nil {
		d.zones = make([]string, 0, 8) // a zone's pointer must stay: no growing past this
	}
	if len(d.zones) == cap(d.zones) {
		z := string(v)
		return &z
	}
	d.zones = append(d.zones, string(v))
	return &d.zones[len(d.zones)-1]
}

func decodeConditions(b []byte, c *discovery.EndpointConditions) error {
	return eachField(b, func(num protowire.Number, _ []byte, x uint64) error {
		p := &condFalse
		if x != 0 {
			p = &condTrue
		}
		switch num {
		case 1:
			c.Ready = p
		case 2:
			c.Serving = p
		case 3:
			c.Terminating = p
		}
		return nil
	})
}

func (d *sliceDecoding) targetRef(b []byte, r *corev1.ObjectReference) error {
	return eachField(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1:
			r.Kind = "Pod"
			if string(v) != "Pod" {
				r.Kind = string(v)
			}
		case 3:
			r.Name = d.str(v)
		}
		return nil
	})
}

func decodeSlicePort(b []byte, p *discovery.EndpointPort) error {
	return eachField(b, func(num protowire.Number, v []byte, x uint64) error {
		switch num {
		case 1:
			name := string(v)
			p.Name = &name
		case 2:
			proto := interned(v, protocols...)
			p.Protocol = &proto
		case 3:
			port := int32(x)
			p.Port = &port
		}
		return nil
	})
}
