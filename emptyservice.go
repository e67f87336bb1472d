package kubesvc

import "slices"

// "ignore empty_service": a ClusterIP service without an endpoint that
// answers for it owns no name. The EndpointSlice controller's slices of such
// services are stored compact (see notHeadless), with a summary of their
// readiness standing for their endpoints, which is all this asks of them.

// hasEndpoint reports whether a service's slices list an endpoint that
// answers for it: a ready one, or any with publishNotReadyAddresses.
func hasEndpoint(s *service, sls []*endpointSlice) bool {
	return slices.ContainsFunc(sls, func(sl *endpointSlice) bool { return sliceHasEndpoint(s, sl) })
}

// sliceHasEndpoint is hasEndpoint for one of s's slices.
func sliceHasEndpoint(s *service, sl *endpointSlice) bool {
	return s.is(svcPublishNotReady) && len(sl.endpoints) > 0 || slices.ContainsFunc(sl.endpoints, func(ep endpoint) bool { return ep.ready })
}

// hasEndpointIn reports whether st's slices, with slice name set to sl (nil:
// deleted; name "": none changed), list an endpoint that answers for its
// service.
func hasEndpointIn(st *svcState, name string, sl *endpointSlice) bool {
	if sl != nil && sliceHasEndpoint(st.svc, sl) {
		return true
	}
	for _, other := range st.slices() {
		if other.name() != name && sliceHasEndpoint(st.svc, other) {
			return true
		}
	}
	return false
}
