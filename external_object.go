package kubesvc

import (
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// The external-dns annotations k8s_external's hostnames and public options
// read, as external-dns reads them.
const (
	annotationHostname = "external-dns.alpha.kubernetes.io/hostname"
	annotationTarget   = "external-dns.alpha.kubernetes.io/target"
	annotationTTL      = "external-dns.alpha.kubernetes.io/ttl"
)

// extAddr is one external address of an object: an IP address, or else a
// host name (a load balancer's), answered with a CNAME.
type extAddr struct {
	ip   netip.Addr
	host string // lower-cased FQDN; "" when ip is set
}

// external is what k8s_external answers of an object: its addresses and
// the external-dns annotations.
type external struct {
	addrs     []extAddr // spec.externalIPs, then status.loadBalancer.ingress, in stock's order
	hostnames []string  // the hostname annotation: lower-cased FQDNs
	targets   []extAddr // the target annotation: the object's public face
	ttl       uint32    // the ttl annotation, if hasTTL
	hasTTL    bool
}

func (x *external) empty() bool {
	return len(x.addrs) == 0 && len(x.hostnames) == 0 && len(x.targets) == 0
}

// serviceExt is a service stored with its external data, and an
// ExternalName service with its externalName. Most services have neither
// (no load balancer, no external IPs, no annotations), and they should not
// pay a field for them: the informer stores &serviceExt.service, whose
// hasExt says that the external data follows it in the same allocation.
type serviceExt struct {
	service
	ext          external
	externalName string       // a lower-cased FQDN, or as given if badExternalName
	moreIPs      []netip.Addr // the cluster IPs after the first (setIPs)
}

// withRare returns s, or s stored with what few services have: external
// data, an externalName, more than one cluster IP ("", nil: none).
func (s *service) withRare(x external, externalName string, moreIPs []netip.Addr) *service {
	if x.empty() && externalName == "" && len(moreIPs) == 0 {
		return s
	}
	se := &serviceExt{service: *s, ext: x, externalName: externalName, moreIPs: moreIPs}
	se.set(svcHasExt, true)
	return &se.service
}

// rare is the serviceExt that s is the first field of; only if hasExt.
func (s *service) rare() *serviceExt {
	// hasExt is set only by withRare, on the service field of a
	// serviceExt, which is its first field: s points at the serviceExt.
	return (*serviceExt)(unsafe.Pointer(s))
}

// externalName is an ExternalName service's externalName, "" for others.
func (s *service) externalName() string {
	if !s.is(svcHasExt) {
		return ""
	}
	return s.rare().externalName
}

// externalData is the external data of s, nil if it has none.
func (s *service) externalData() *external {
	if !s.is(svcHasExt) {
		return nil
	}
	return &s.rare().ext
}

func externalOf(svc *corev1.Service) external {
	var x external
	for _, s := range svc.Spec.ExternalIPs {
		if ip, ok := hostAddr(s); ok {
			x.addrs = append(x.addrs, extAddr{ip: ip})
		}
	}
	for _, lb := range svc.Status.LoadBalancer.Ingress {
		x.addrs = appendLoadBalancer(x.addrs, lb.IP, lb.Hostname)
	}
	readAnnotations(&x, svc.Annotations)
	return x
}

// appendLoadBalancer appends the address of one entry of a load balancer's
// status: its IP if it has one, else its host name (as stock reads it). An
// entry with neither, or with a malformed one, is left out.
func appendLoadBalancer(out []extAddr, ip, hostname string) []extAddr {
	if ip != "" {
		if a, ok := hostAddr(ip); ok {
			out = append(out, extAddr{ip: a})
		}
		return out
	}
	if h, ok := hostName(hostname); ok {
		out = append(out, extAddr{host: h})
	}
	return out
}

// readAnnotations reads the external-dns annotations: names that are not
// host names, targets that are neither addresses nor host names, and a TTL
// that is not a number of seconds are left out.
func readAnnotations(x *external, annotations map[string]string) {
	for _, h := range splitList(annotations[annotationHostname]) {
		if n, ok := hostName(h); ok {
			x.hostnames = append(x.hostnames, n)
		}
	}
	for _, t := range splitList(annotations[annotationTarget]) {
		if ip, ok := hostAddr(t); ok {
			x.targets = append(x.targets, extAddr{ip: ip})
		} else if n, ok := hostName(t); ok {
			x.targets = append(x.targets, extAddr{host: n})
		}
	}
	if v, ok := annotations[annotationTTL]; ok {
		if t, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil && t <= maxExternalTTL {
			x.ttl, x.hasTTL = uint32(t), true
		}
	}
}

// maxExternalTTL bounds the ttl annotation: external-dns takes any int32,
// a resolver caps at a week or so; a day keeps a mistake from lasting.
const maxExternalTTL = 86400

// splitList splits a comma-separated annotation, as external-dns does.
func splitList(v string) []string {
	if v == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// hostName is s as a lower-cased FQDN if it is a host name: labels of
// letters, digits and '-' (isLabel), at most 253 characters. A wildcard
// (*.example.com), an address, or anything with escapes is not.
func hostName(s string) (string, bool) {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if s == "" || len(s) > 253 {
		return "", false
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "", false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if !isLabel(l) {
			return "", false
		}
	}
	// No top-level domain is all digits: 300.1.1.1 is a broken address.
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", false
	}
	return dns.Fqdn(s), true
}
