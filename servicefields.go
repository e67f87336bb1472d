package kubesvc

import (
	"math"
	"net/netip"
	"strings"
	"unsafe"
)

// The service struct's compact fields (object.go), read and set: the
// index's key, which is the key of a dotted service, the ports as a pointer
// and a count, the first cluster IP inline.

// indexKey is the index's key of s (see indexKey): its key if it is dotted
// (newServiceMeta), as every service whose names are labels is.
func (s *service) indexKey() string {
	if !s.isDotted() {
		return indexKey(s.key())
	}
	return s.key()
}

// isAt reports whether s is the service at key, a watcher's key
// ("namespace/name"), without building s's (stateKey).
func (s *service) isAt(key string) bool {
	ns, name, ok := strings.Cut(key, "/")
	return ok && !s.is(svcImported) && s.namespace() == ns && s.name() == name
}

// ports are the service's ports; an unnamed one only has an SRV at the
// service's own name.
func (s *service) ports() []port { return unsafe.Slice(s.portList, s.nPorts) }

// maxPorts is the most ports a service keeps: nPorts's bound. The API sets
// none, but only an object near etcd's 1.5 MiB limit has more; such a
// service's other ports are left out, with an error.
const maxPorts = math.MaxUint16

// setPorts keeps ports in s.
func (s *service) setPorts(ports []port) {
	if len(ports) > maxPorts {
		log.Errorf("service %s: %d named ports; the %d after the first %d are left out of the index", s.stateKey(), len(ports), len(ports)-maxPorts, maxPorts)
		ports = ports[:maxPorts]
	}
	if len(ports) > 0 {
		s.portList, s.nPorts = &ports[0], uint16(len(ports))
	}
}

// setIPs keeps the first of ips in s if it is an IPv4 address, and returns
// the others (all of them if the first is IPv6), which withRare keeps after
// the service.
func (s *service) setIPs(ips []netip.Addr) (more []netip.Addr) {
	if len(ips) == 0 || !ips[0].Unmap().Is4() {
		return ips
	}
	s.ip4 = ips[0].Unmap().As4()
	s.set(svcHasIP4, true)
	return ips[1:]
}

// numIP4 is 1 if ip4 holds s's first cluster IP, 0 if not.
func (s *service) numIP4() int {
	if s.is(svcHasIP4) {
		return 1
	}
	return 0
}

// numIPs is how many cluster IPs s has.
func (s *service) numIPs() int {
	if s.is(svcHasExt) {
		return s.numIP4() + len(s.rare().moreIPs)
	}
	return s.numIP4()
}

// clusterIP is cluster IP i of s, i < numIPs.
func (s *service) clusterIP(i int) netip.Addr {
	if i < s.numIP4() {
		return netip.AddrFrom4(s.ip4)
	}
	return s.rare().moreIPs[i-s.numIP4()]
}
