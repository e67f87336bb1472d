package kubesvc

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// records turns a service and its endpoint slices into what the index keeps
// of it, per the Kubernetes DNS-Based Service Discovery specification,
// schema 1.1.0: the service (answered per query, see svcanswer.go and
// headlessanswer.go), its addresses' reverse names, and the few names whose
// answers are kept ready-made (the zones' own, the cluster DNS service's).
type records struct {
	zones []string // forward zones, lower-cased FQDNs; the first names PTR targets
	// mcZones (multicluster): the zones of ServiceImports' names, which are
	// not in zones; the first names their PTR targets.
	mcZones []string
	ttl     uint32
	// podNames (endpoint_pod_names): an endpoint without a hostname is
	// named after its Pod rather than its dashed address.
	podNames bool
	// ignoreEmpty (ignore empty_service): a ClusterIP service without a
	// ready endpoint owns no name, as if it did not exist.
	ignoreEmpty bool
	// zonal: headless services answer zone-scoped names too (zonal.go).
	zonal bool
}

// owned is what one service contributes to the index.
type owned struct {
	names     map[string]*builder // ready-made names: the cluster DNS service's ns.dns.<zone>
	key       string              // the index's key of the service (indexKey), "" if it has no names
	ref       svcRef              // the service's own names, answered per query; zero: none
	ptrs      []ptrRef            // its addresses' reverse names; shared between owners, so kept apart
	endpoints int                 // headless endpoint addresses answered
}

// ptrRef is a reverse name's reference to a name of a service: ip's PTR
// record points at rel + ".svc." + the first forward zone.
type ptrRef struct {
	ip netip.Addr
	// rel is "[<endpoint>.]<service>.<namespace>", "/<service>.<namespace>"
	// for an endpoint going by its dashed address (see targets); or, for
	// an import, the FQDN it points at in a multicluster zone (see
	// ptrRecords).
	rel string
}

// maxName is the longest name in presentation form, trailing dot
// included, that fits the 255 octets of the wire: names built from the
// longest labels the API allows can exceed it, and are left out.
const maxName = 254

func (o *owned) at(name string) *builder {
	if len(name) > maxName {
		return &builder{} // records of a name that cannot exist are dropped
	}
	b := o.names[name]
	if b == nil {
		b = &builder{}
		o.names[name] = b
	}
	return b
}

// within joins a relative name (no trailing dot) to a zone.
func within(rel, zone string) string {
	if zone == "." {
		return rel + "."
	}
	return rel + "." + zone
}

// relative strips zone from a name in it: the inverse of within.
func relative(name, zone string) (string, bool) {
	if zone == "." {
		return strings.TrimSuffix(name, "."), true
	}
	return strings.CutSuffix(name, "."+zone)
}

func (r *records) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: r.ttl}
}

// addr builds the A or AAAA record of ip at name.
func (r *records) addr(name string, ip netip.Addr) (kind, dns.RR) {
	if ip.Is4() {
		a := ip.As4()
		return kA, &dns.A{Hdr: r.hdr(name, dns.TypeA), A: net.IP(a[:])}
	}
	a := ip.As16()
	return kAAAA, &dns.AAAA{Hdr: r.hdr(name, dns.TypeAAAA), AAAA: net.IP(a[:])}
}

func (r *records) srv(name, target string, port, weight uint16) dns.RR {
	return &dns.SRV{Hdr: r.hdr(name, dns.TypeSRV), Priority: 0, Weight: weight, Port: port, Target: target}
}

// service computes everything s owns. slices are the service's endpoint
// slices; only headless services use them. prev (nil: none) is the
// service's headless record before the change, from which its record takes
// what it can again; edit (nil: unknown) is the one slice that changed since
// then.
func (r *records) service(s *service, sls []*endpointSlice, prev *hsRecord, edit *sliceEdit) *owned {
	o := &owned{names: map[string]*builder{}}
	if !isLabel(s.name()) || !isLabel(s.namespace()) {
		return o // not a name the API allows: no host name can be built on it
	}
	if s.is(svcImported) {
		r.serviceImport(o, s, sls) // ready-made names in the multicluster zones
		return o
	}
	key := s.indexKey()
	o.key = key // the one string the index keeps of it, shared by its reverse names
	switch s.kind {
	case kindClusterIP:
		// The spec asks a PTR of each cluster IP whatever the endpoints,
		// and stock keeps it under "ignore empty_service" too.
		for i := range s.numIPs() {
			ip := s.clusterIP(i)
			o.ptrs = append(o.ptrs, ptrRef{ip, key})
		}
		if !r.ignoreEmpty || hasEndpoint(s, sls) {
			o.ref.svc = s
		} // else the service's names do not exist: NXDOMAIN, which fallthrough may pass on
		if s.namespace() == "kube-system" && s.name() == "kube-dns" {
			r.clusterDNS(o, s)
		}
	case kindHeadless:
		o.ref.hs = newHeadless(s, sls, r.podNames, prev, edit)
		if o.ref.hs != nil {
			o.endpoints = o.ref.hs.addrs
		}
	case kindExternalName:
		if !s.is(svcBadExternalName) {
			o.ref.svc = s
		} // the watcher warns of it, once per value
	default:
		panic(fmt.Sprintf("kubesvc: service %s of kind %d, which records does not know", s.stateKey(), s.kind))
	}
	return o
}

// clusterDNS adds the names of the cluster's DNS service: a zone's NS
// record names ns.dns.<zone>, which points at it.
func (r *records) clusterDNS(o *owned, s *service) {
	for _, zone := range r.forward() {
		ns := within("ns.dns", zone)
		for i := range s.numIPs() {
			ip := s.clusterIP(i)
			o.at(ns).add(r.addr(ns, ip))
		}
		o.at(within("dns", zone))
	}
}

// forward are all the forward zones: the services' and the multicluster ones.
func (r *records) forward() []string {
	return append(r.zones[:len(r.zones):len(r.zones)], r.mcZones...)
}

// indexKey is the index's key of a service, "<service>.<namespace>", from
// the watcher's "<namespace>/<service>": the part of the service's names
// before ".svc.<zone>".
func indexKey(key string) string {
	ns, name, _ := strings.Cut(key, "/")
	return name + "." + ns
}

// srvName is the SRV name of port p of the service named base.
func srvName(p port, base string) string { return "_" + p.name + "._" + p.proto.String() + "." + base }

// externalTarget validates an ExternalName and returns it as a lower-cased
// FQDN. An IP address or anything that is not a host name is refused: a
// CNAME to it would be a malformed answer.
func externalTarget(name string) (string, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" || len(name) > 253 {
		return "", false
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return "", false
	}
	for label := range strings.SplitSeq(name, ".") {
		// '_' may stand anywhere a letter may (as resolvers accept it).
		if !isLabel(strings.ReplaceAll(label, "_", "a")) {
			return "", false
		}
	}
	return name + ".", true
}

// reverse is the in-addr.arpa or ip6.arpa name of ip.
func reverse(ip netip.Addr) string {
	name, _ := dns.ReverseAddr(ip.String())
	return name
}

// zoneRecords are the names each zone has whatever the cluster holds.
func (r *records) zoneRecords(pods bool) map[string]*entry {
	out := map[string]*entry{}
	for i, zone := range r.forward() {
		txt := within("dns-version", zone)
		b := &builder{}
		hdr := r.hdr(txt, dns.TypeTXT)
		hdr.Ttl = versionTTL
		version := specVersion
		if i >= len(r.zones) {
			version = mcsSpecVersion // the multicluster specification's own schema
		}
		b.add(kTXT, &dns.TXT{Hdr: hdr, Txt: []string{version}})
		out[txt] = b.entry()
		out[within("svc", zone)] = emptyNonTerminal
		if pods {
			out[within("pod", zone)] = emptyNonTerminal
		}
	}
	return out
}

// specVersion is the schema of the Kubernetes DNS specification implemented.
const specVersion = "1.1.0"

// versionTTL is the TTL of the schema version's TXT record, whatever ttl
// is: the specification's example gives it, and stock answers it.
const versionTTL = 28800
