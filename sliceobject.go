package kubesvc

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The EndpointSlice informers' transforms: what DNS keeps of a slice
// (endpointSlice, object.go), for the options that ask more of it.

// toEndpointSlice is the EndpointSlice informer's transform.
func toEndpointSlice(obj any) (any, error) { return endpointSliceOf(obj, sliceKeeps{}) }

// sliceKeeps is what the slice transform keeps beyond what every answer
// needs, for the options that ask it (only then: memory matters).
type sliceKeeps struct {
	// podNames (endpoint_pod_names): the Pod name of each endpoint without
	// a hostname; it costs a string per endpoint.
	podNames bool
	// zones (zonal): each endpoint's topology zone, as an interned id.
	zones bool
	// whole: never the compact form (notHeadless), whatever the labels say:
	// a multicluster slice's labels are not the EndpointSlice controller's
	// promise about a Service.
	whole bool
}

// endpointSliceOf is the slice transform for the options of keep. It takes
// the sparse decoder's slices (wireSlice, read straight from the message)
// and client-go's API objects (the tests' fake clients, JSON), with the
// same result for both (TestSparseSliceTransformsMatch).
func endpointSliceOf(obj any, keep sliceKeeps) (any, error) {
	switch es := obj.(type) {
	case *wireSlice:
		s, err := es.endpointSlice(keep)
		if err != nil {
			// Not s: a nil *endpointSlice is an object to the callers,
			// which mark it (fromWatch, multiclusterSliceOf). The message
			// stays, for the reflector's log line.
			return nil, err
		}
		es.release() // read: its memory goes to the next event's object
		return s, nil
	case *discovery.EndpointSlice:
		return apiSliceOf(es, keep), nil
	}
	return obj, nil
}

// sliceHead is the endpointSlice of a slice's metadata: no endpoints, no
// ports yet.
func sliceHead(m *metav1.ObjectMeta) *endpointSlice {
	s := &endpointSlice{objMeta: newObjMeta(m), service: m.Labels[discovery.LabelServiceName]}
	// Parsed only if set: a failed parse allocates its error.
	if v := m.Annotations[corev1.EndpointsLastChangeTriggerTime]; v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			s.trigger = t.UnixNano()
		}
	}
	return s
}

// family reports whether a slice of addressType holds IPv4 addresses (v4)
// or IPv6 ones; false ok for the deprecated FQDN slices, which have no
// place in A/AAAA answers.
func family(addressType discovery.AddressType) (v4, ok bool) {
	return addressType == discovery.AddressTypeIPv4,
		addressType == discovery.AddressTypeIPv4 || addressType == discovery.AddressTypeIPv6
}

// compact reports whether a slice with labels keeps only its summary:
// its endpoints feed no answer but "ignore empty_service"'s, as its
// service has a cluster IP (notHeadless).
func (k sliceKeeps) compact(labels map[string]string) bool { return notHeadless(labels) && !k.whole }

// finish puts the endpoints in address order and shares the ports. By
// address: a headless service's answers merge its slices' endpoints by
// address (members), which then takes the slices' runs as they are.
func (s *endpointSlice) finish() {
	switch n := len(s.endpoints); {
	case n == 0:
		s.endpoints = nil // no array kept for endpoints without addresses
	case cap(s.endpoints)-n > n/4:
		// Sized for more addresses than were valid (or, read from the
		// message, fewer than there were): the store keeps the slice,
		// so not the room.
		s.endpoints = slices.Clone(s.endpoints)
	}
	slices.SortStableFunc(s.endpoints, func(a, b endpoint) int { return a.ip().Compare(b.ip()) })
	s.ports = sharedPorts(s.ports)
}

// podHostname reports whether an endpoint without a hostname is named by
// its Pod (the target of kind), for endpoint_pod_names. A Pod name is a
// DNS subdomain: one with dots, or longer than a label, cannot name the
// endpoint, which keeps its dashed address instead.
func (k sliceKeeps) podHostname(kind, name string) bool {
	return k.podNames && kind == "Pod" && isLabel(name)
}

// apiSliceOf is the endpointSlice of a client-go EndpointSlice.
func apiSliceOf(es *discovery.EndpointSlice, keep sliceKeeps) *endpointSlice {
	s := sliceHead(&es.ObjectMeta)
	v4, ok := family(es.AddressType)
	if !ok {
		return s
	}
	if keep.compact(es.Labels) {
		s.endpoints = summary(es.Endpoints, v4)
		return s
	}
	// Sized for every address: the slice is kept, and appending would
	// leave it up to twice as large as its endpoints.
	n := 0
	for _, e := range es.Endpoints {
		n += len(e.Addresses)
	}
	if n > 0 {
		s.endpoints = make([]endpoint, 0, n)
	}
	for _, e := range es.Endpoints {
		ep := endpoint{ready: ready(e)}
		switch {
		case e.Hostname != nil && *e.Hostname != "":
			ep.setHostname(strings.ToLower(*e.Hostname))
		case e.TargetRef != nil && keep.podHostname(e.TargetRef.Kind, e.TargetRef.Name):
			ep.setHostname(strings.ToLower(e.TargetRef.Name))
			ep.podName = true
		}
		if keep.zones && e.Zone != nil {
			ep.zone = zoneID(*e.Zone)
		}
		// One endpoint an address: the addresses of an endpoint are
		// fungible (each gets its hostname), and the rare endpoint with
		// several then costs no slice of them on every other.
		for _, a := range e.Addresses {
			if ip, ok := endpointAddr(a, v4); ok {
				ep.at = addr16Of(ip)
				s.endpoints = append(s.endpoints, ep)
			}
		}
	}
	for _, p := range es.Ports {
		proto, name := corev1.ProtocolTCP, ""
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if p.Name != nil {
			name = *p.Name
		}
		var num int32
		if p.Port != nil {
			num = *p.Port
		}
		if np, ok := endpointPort(name, proto, num, p.Port != nil); ok {
			s.ports = append(s.ports, np)
		}
	}
	s.finish()
	return s
}

// ready is an endpoint's ready condition; unknown counts as ready, as the
// API asks.
func ready(e discovery.Endpoint) bool { return e.Conditions.Ready == nil || *e.Conditions.Ready }

// summary is what a compact slice keeps of its endpoints (those with an
// address of the slice's family): readySummary if one is ready,
// notReadySummary if all are not, nil if it has none.
func summary(eps []discovery.Endpoint, v4 bool) []endpoint {
	var out []endpoint
	for _, e := range eps {
		if !slices.ContainsFunc(e.Addresses, func(a string) bool { _, ok := endpointAddr(a, v4); return ok }) {
			continue
		}
		if ready(e) {
			return readySummary
		}
		out = notReadySummary
	}
	return out
}

// endpointSliceController is the managed-by label of the slices the
// EndpointSlice controller keeps for services with a selector.
const endpointSliceController = "endpointslice-controller.k8s.io"

// notHeadless reports whether a slice's labels say that its service has a
// cluster IP. The EndpointSlice controller labels the slices of headless
// services service.kubernetes.io/headless, and a service cannot gain or lose
// its cluster IP without its slices being recreated (spec.clusterIP is
// immutable but for ExternalName services, which get no slices). Slices that
// others write (the mirroring controller, hand-made ones for selector-less
// services) carry no such promise and are kept whole. Most slices of a
// cluster belong to ClusterIP services; this keeps them to a few bytes.
func notHeadless(labels map[string]string) bool {
	_, headless := labels[corev1.IsHeadlessService]
	return labels[discovery.LabelManagedBy] == endpointSliceController && !headless
}
