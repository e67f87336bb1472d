package kubesvc

import (
	"net/netip"
	"slices"
	"strings"
	"unique"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The informers store these small structs instead of the API objects: the
// transforms below keep only what DNS answers are made of, which is most of
// the memory a Service or EndpointSlice costs.

type svcKind uint8

const (
	kindClusterIP    svcKind = iota // ClusterIP, NodePort, LoadBalancer: answered with cluster IPs
	kindHeadless                    // answered with the ready endpoints
	kindExternalName                // answered with a CNAME
	numSvcKinds
)

// service is what DNS needs of a v1.Service: 32 bytes, a size class of
// Go's allocator, for the services most clusters have (servicefields.go).
type service struct {
	objMeta
	// portList and nPorts are ports(), without the slice's capacity.
	portList *port
	// ip4 is the first of spec.clusterIPs (valid ones only) if it is an
	// IPv4 address (svcHasIP4), as most are. Any other cluster IP (the
	// second of a dual-stack service, the first of an IPv6 one) is kept
	// after the service (serviceExt): 12 bytes less on every IPv4 service
	// (see setIPs, clusterIP).
	ip4    [4]byte
	nPorts uint16 // at most maxPorts
	kind   svcKind
	flags  svcFlags
}

// svcFlags are a service's yes-or-no fields, one bit each: a byte where
// six bools (and a count of IPv4 addresses) took seven, which fit the struct in 32 bytes.
type svcFlags uint8

const (
	svcHasIP4          svcFlags = 1 << iota // ip4 is set
	svcBadExternalName                      // externalName() is no DNS name: no CNAME can point at it
	svcPublishNotReady                      // spec.publishNotReadyAddresses
	svcSelector                             // spec.selector is set: its slices are the EndpointSlice controller's
	svcHasExt                               // external data follows (serviceExt): load balancer, external IPs, annotations
	svcImported                             // a ServiceImport (multicluster.go), answered in the multicluster zones
)

// is reports whether every flag of f is set.
func (s *service) is(f svcFlags) bool { return s.flags&f == f }

// set sets the flags of f, or clears them.
func (s *service) set(f svcFlags, on bool) {
	if on {
		s.flags |= f
	} else {
		s.flags &^= f
	}
}

// DeepCopyObject returns the object itself: stored objects are never mutated.
func (s *service) DeepCopyObject() runtime.Object { return s }

// port is a named port.
type port struct {
	name  string // lower-cased, interned: most services name their ports alike
	port  uint16
	proto protocol
}

// endpointSlice is what DNS needs of a discovery/v1 EndpointSlice.
type endpointSlice struct {
	objMeta
	// service is the kubernetes.io/service-name label; "" means the slice
	// is ignored. A multicluster slice's is "<import>/<source cluster>"
	// (toMulticlusterSlice), which files it under the ServiceImport.
	service   string
	watch     uint8 // which of the slice watches (sliceSelectors) delivered it
	trigger   int64 // last-change-trigger-time annotation, Unix nanoseconds; 0 if none
	endpoints []endpoint
	ports     []port
}

// serviceKey is the key of the service the slice belongs to.
func (s *endpointSlice) serviceKey() string {
	if name, _, ok := strings.Cut(s.service, "/"); ok {
		return importKey(s.namespace(), name)
	}
	return s.namespace() + "/" + s.service
}

// fromWatch marks the slice as delivered by slice watch i (sliceSelectors).
func (s *endpointSlice) fromWatch(i uint8) { s.watch = i }

// DeepCopyObject returns the object itself: stored objects are never mutated.
func (s *endpointSlice) DeepCopyObject() runtime.Object { return s }

type endpoint struct {
	at addr16 // its address: ip()
	// hostnameAt and nHostname are hostname(): the hostname, or, with
	// podName, the name of the Pod its targetRef names. An address and a
	// length byte (keepName), where a string took 8 bytes more: 32 an
	// endpoint, not 40.
	hostnameAt unsafe.Pointer
	nHostname  uint8
	ready      bool
	podName    bool   // hostname is the endpoint's Pod name, kept for endpoint_pod_names
	summary    bool   // a compact slice's summary (readySummary): no address
	zone       uint16 // zonal: its topology zone (zoneID), 0 for none; fits in padding
}

// hostname is the endpoint's hostname (or Pod name: podName); "" for none.
func (e *endpoint) hostname() string { return keptName(e.hostnameAt, e.nHostname) }

func (e *endpoint) setHostname(h string) { e.hostnameAt, e.nHostname = keepName(h) }

// sameEndpoint reports whether two endpoints are alike: == compares their
// hostnames' addresses.
func sameEndpoint(x, y endpoint) bool {
	return x.at == y.at && x.hostname() == y.hostname() && x.ready == y.ready && x.podName == y.podName &&
		x.summary == y.summary && x.zone == y.zone
}

// ip is the endpoint's address; the zero Addr for a compact slice's summary.
func (e *endpoint) ip() netip.Addr {
	if e.summary {
		return netip.Addr{}
	}
	return e.at.addr()
}

// addr16 is an endpoint's address in 16 bytes, an IPv4 address as its
// IPv4-mapped form (endpoints have no zones, and an IPv4-mapped address in
// an IPv6 slice is read as the IPv4 one: endpointAddr): a netip.Addr took
// 24, 8 of them for a zone. It holds valid addresses only (the zero one
// is "::").
type addr16 [16]byte

func addr16Of(ip netip.Addr) addr16 { return ip.As16() }

// addr is the address; IPv4 if it is IPv4-mapped.
func (a addr16) addr() netip.Addr { return netip.AddrFrom16(a).Unmap() }

// Compact slices (see notHeadless) keep, instead of their endpoints, one of
// these shared address-less endpoints: whether any of theirs is ready, or
// any at all is not, which is all "ignore empty_service" asks of them.
var (
	readySummary    = []endpoint{{ready: true, summary: true}}
	notReadySummary = []endpoint{{ready: false, summary: true}}
)

// toService is the Service informer's transform. It must accept its own
// output: the informer may hand it an object it already transformed.
func toService(obj any) (any, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	s := &service{objMeta: newServiceMeta(&svc.ObjectMeta)}
	s.set(svcPublishNotReady, svc.Spec.PublishNotReadyAddresses)
	s.set(svcSelector, len(svc.Spec.Selector) > 0)
	var externalName string // kept after the service (serviceExt): few have one
	var moreIPs []netip.Addr
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		s.kind = kindExternalName
		// Validated once, here: queries answer with it as it is.
		externalName = svc.Spec.ExternalName
		target, ok := externalTarget(svc.Spec.ExternalName)
		if ok {
			externalName = target
		}
		s.set(svcBadExternalName, !ok)
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		s.kind = kindHeadless
	default:
		s.kind = kindClusterIP
		moreIPs = s.setIPs(parseIPs(svc.Spec.ClusterIPs, svc.Spec.ClusterIP))
	}
	s.setPorts(servicePorts(svc.Spec.Ports))
	return s.withRare(externalOf(svc), externalName, moreIPs), nil
}

// servicePorts are the ports of a Service kept (namedPort), shared with
// the services that have the same (sharedPorts).
func servicePorts(sps []corev1.ServicePort) []port {
	var out []port
	for _, p := range sps {
		if np, ok := namedPort(p.Name, p.Protocol, p.Port); ok {
			if out == nil {
				out = make([]port, 0, len(sps))
			}
			out = append(out, np)
		}
	}
	return sharedPorts(out)
}

// namedPort keeps a port only if it can be an SRV record's: at its own
// name if it has a name, at the service's if not ("").
func namedPort(name string, proto corev1.Protocol, num int32) (port, bool) {
	if num <= 0 || num > 65535 {
		return port{}, false
	}
	return portOf(name, proto, uint16(num))
}

// endpointPort is namedPort for an EndpointSlice's port, whose number may be
// missing (hasNum false: "all ports"). Such a port is kept as port 0: no
// SRV record can give it, but its SRV name exists, and its endpoints weigh
// in the records of the service's own name, as stock's port -1 does.
// numbered leaves it out where nothing else is wanted of it.
func endpointPort(name string, proto corev1.Protocol, num int32, hasNum bool) (port, bool) {
	if !hasNum {
		return portOf(name, proto, 0)
	}
	return namedPort(name, proto, num)
}

// numbered are ports without the numberless ones: ports itself unless one
// is.
func numbered(ports []port) []port {
	if !slices.ContainsFunc(ports, func(p port) bool { return p.port == 0 }) {
		return ports
	}
	return slices.DeleteFunc(slices.Clone(ports), func(p port) bool { return p.port == 0 })
}

// portOf is the port if its name can be a label and its protocol is known.
func portOf(name string, proto corev1.Protocol, num uint16) (port, bool) {
	if name != "" && !isLabel(name) {
		return port{}, false
	}
	pr := lowerProto(proto)
	if !isLabel(pr) {
		return port{}, false
	}
	id, ok := protocolOf(pr)
	if !ok {
		log.Errorf("port %d/%s: more than %d protocols other than TCP, UDP and SCTP; it is left out of the index", num, pr, 256-int(firstOtherProto))
		return port{}, false
	}
	return port{name: portName(name), proto: id, port: num}, true
}

// portName is a port's name lower-cased and shared: the commonest names
// (portNames, what the decoders intern) as they are, any other through
// unique's map, whose lookup costs more.
func portName(name string) string {
	for _, k := range portNames {
		if name == k {
			return k
		}
	}
	if name == "" {
		return ""
	}
	return unique.Make(strings.ToLower(name)).Value()
}

// lowerProto lower-cases a protocol; the usual ones without allocating, as
// every port of every object carries one.
func lowerProto(p corev1.Protocol) string {
	switch p {
	case corev1.ProtocolTCP, "":
		return "tcp"
	case corev1.ProtocolUDP:
		return "udp"
	case corev1.ProtocolSCTP:
		return "sctp"
	}
	return strings.ToLower(string(p))
}

func parseIPs(ips []string, fallback string) []netip.Addr {
	if len(ips) == 0 && fallback != "" {
		ips = []string{fallback}
	}
	var out []netip.Addr
	for _, s := range ips {
		if ip, ok := hostAddr(s); ok {
			out = append(out, ip)
		}
	}
	return out
}

// hostAddr parses an address an answer can carry. A v4-mapped IPv6 address
// is the IPv4 address it maps (as resolvers read it, and as stock answers
// it: with an A record); an address with a zone (fe80::1%eth0) has no place
// in DNS.
func hostAddr(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// endpointAddr parses an address of an IPv4 (v4 true) or IPv6 slice, which
// must be of the slice's family; a v4-mapped address counts as IPv4 in
// either.
func endpointAddr(s string, v4 bool) (netip.Addr, bool) {
	ip, ok := hostAddr(s)
	mapped := ok && strings.Contains(s, ":") && ip.Is4()
	if !ok || ip.Is4() != v4 && !mapped {
		return netip.Addr{}, false
	}
	return ip, true
}

// isLabel reports whether s can stand as one label of a host name we build
// (RFC 1123): letters, digits and '-', neither first nor last, at most 63
// characters. Resolvers refuse whole answers that hold other names (Go's
// LookupSRV and LookupAddr do), and no valid Kubernetes object needs them.
func isLabel[S ~string | ~[]byte](s S) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
