package kubesvc

import (
	"bytes"
	"slices"

	"github.com/miekg/dns"
)

// The answers of a ClusterIP or ExternalName service, built for each
// question from the service as the informer holds it:
//
//	<service>                  A/AAAA of its cluster IPs (spec 2.3.1), and
//	                           SRV per port number (beyond the spec, as
//	                           stock answers it); an ExternalName service a
//	                           CNAME to its externalName (2.5)
//	_<port>._<proto>.<service> SRV of the named port, targeting the service,
//	                           its addresses as additional records (2.3.2)
//	_<proto>.<service>         no records: the parent of the SRV names

// serviceAnswer answers qtype at name (lower-cased), the name of the
// service ref or one under it; the service's name starts at name[start:].
func (k *KubeSvc) serviceAnswer(ref svcRef, name []byte, start, z int, qtype uint16) result {
	if ref.hs != nil {
		return k.headlessAnswer(ref.hs, name, start, z, qtype)
	}
	s := ref.svc
	slabs := caseCursors.Get().(*caseSlabs)
	defer caseCursors.Put(slabs)
	owner := slabs.str(name)
	base := owner[start:]
	if s.kind == kindExternalName {
		if start != 0 {
			return k.negative(z, dns.RcodeNameError)
		}
		cname := carve(&slabs.cname)
		cname.Hdr = dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: k.ttl}
		cname.Target = s.externalName()
		res := result{answer: slabs.rrs(1)}
		res.answer[0] = cname
		if chasedType(qtype) {
			res.chase = s.externalName()
		}
		return res
	}
	if start == 0 {
		return k.clusterIPService(s, slabs, base, z, qtype)
	}
	prefix := name[:start-1]
	dot := bytes.IndexByte(prefix, '.')
	switch {
	case prefix[0] != '_':
		return k.negative(z, dns.RcodeNameError) // no endpoint names below a cluster IP
	case dot < 0: // _<proto>
		for _, p := range s.ports() {
			if named(p) && p.proto.String() == string(prefix[1:]) {
				return k.negative(z, dns.RcodeSuccess)
			}
		}
		return k.negative(z, dns.RcodeNameError)
	}
	pname, proto := prefix[1:dot], prefix[dot+1:]
	if len(proto) < 2 || proto[0] != '_' || bytes.IndexByte(proto, '.') >= 0 {
		return k.negative(z, dns.RcodeNameError)
	}
	n := 0
	for _, p := range s.ports() {
		if named(p) && p.name == string(pname) && p.proto.String() == string(proto[1:]) {
			n++
		}
	}
	if n == 0 {
		return k.negative(z, dns.RcodeNameError)
	}
	if qtype != dns.TypeSRV && qtype != dns.TypeANY || s.numIPs() == 0 {
		return k.negative(z, dns.RcodeSuccess) // a target without an address helps no one
	}
	answer := slabs.rrs(n)[:0]
	for _, p := range s.ports() {
		if named(p) && p.name == string(pname) && p.proto.String() == string(proto[1:]) {
			answer = append(answer, slabs.srvRR(owner, base, p.port, portWeight(s), k.ttl))
		}
	}
	if qtype == dns.TypeANY {
		return result{answer: answer}
	}
	return result{answer: answer, extra: clusterIPAddrs(s, slabs, base, dns.TypeANY, k.ttl)}
}

// clusterIPService answers the service's own name.
func (k *KubeSvc) clusterIPService(s *service, slabs *caseSlabs, base string, z int, qtype uint16) result {
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		return k.positive(z, clusterIPAddrs(s, slabs, base, qtype, k.ttl), nil)
	case dns.TypeSRV:
		return k.positive(z, serviceSRV(s, slabs, base, k.ttl), clusterIPAddrs(s, slabs, base, dns.TypeANY, k.ttl))
	case dns.TypeANY:
		addrs, srv := clusterIPAddrs(s, slabs, base, dns.TypeANY, k.ttl), serviceSRV(s, slabs, base, k.ttl)
		all := slabs.rrs(len(addrs) + len(srv))
		copy(all[copy(all, addrs):], srv)
		return k.positive(z, all, nil)
	}
	return k.negative(z, dns.RcodeSuccess)
}

// clusterIPAddrs are the address records of the service's cluster IPs of
// the type asked (ANY: both, A first), at base.
func clusterIPAddrs(s *service, slabs *caseSlabs, base string, qtype uint16, ttl uint32) []dns.RR {
	n := 0
	for i := range s.numIPs() {
		ip := s.clusterIP(i)
		if wants(qtype, ip) {
			n++
		}
	}
	out := slabs.rrs(n)[:0]
	for _, v4 := range [2]bool{true, false} {
		for i := range s.numIPs() {
			ip := s.clusterIP(i)
			if ip.Is4() == v4 && wants(qtype, ip) {
				out = append(out, slabs.addr(base, ip, ttl))
			}
		}
	}
	return out
}

// serviceSRV are the SRV records of a ClusterIP service's own name, which
// the specification does not define and stock answers (CoreDNS's own test
// suites ask it): one per port number, named or not, its target the
// service's name, each weighing 100 divided by the ports times the cluster
// IPs, as stock counts them. None without a cluster IP.
func serviceSRV(s *service, slabs *caseSlabs, base string, ttl uint32) []dns.RR {
	if s.numIPs() == 0 || len(s.ports()) == 0 {
		return nil
	}
	weight := uint16(max(1, 100/(len(s.ports())*s.numIPs())))
	n := 0
	for i, p := range s.ports() {
		if !portSeen(s.ports()[:i], p) {
			n++
		}
	}
	out := slabs.rrs(n)[:0]
	for i, p := range s.ports() {
		if !portSeen(s.ports()[:i], p) {
			out = append(out, slabs.srvRR(base, base, p.port, weight, ttl))
		}
	}
	return out
}

// portWeight is the weight of a named port's SRV record of a ClusterIP
// service with cluster IPs: 100 divided by them, as stock counts one record
// per cluster IP before it merges them.
func portWeight(s *service) uint16 { return uint16(max(1, 100/s.numIPs())) }

// portSeen reports whether ports hold p's port number: a ClusterIP
// service's own name has one SRV per number.
func portSeen(ports []port, p port) bool {
	return slices.ContainsFunc(ports, func(q port) bool { return q.port == p.port })
}

// named reports whether p has a name, and so an SRV name of its own.
func named(p port) bool { return p.name != "" }

// names calls yield with each name of the service ref, named base in its
// zone, that has records, and its records of every type, for zone
// transfers.
func (k *KubeSvc) names(ref svcRef, slabs *caseSlabs, base string, yield func(name string, rrs []dns.RR)) {
	if ref.hs != nil {
		a := &hsAnswers{hs: ref.hs, slabs: slabs, ttl: k.ttl, base: base, maxLabel: maxName - 1 - len(base)}
		a.names(func(name string, rrs, _ []dns.RR) { yield(name, rrs) })
		return
	}
	s := ref.svc
	if s.kind == kindExternalName {
		yield(base, []dns.RR{&dns.CNAME{Hdr: dns.RR_Header{Name: base, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: k.ttl}, Target: s.externalName()}})
		return
	}
	yield(base, append(clusterIPAddrs(s, slabs, base, dns.TypeANY, k.ttl), serviceSRV(s, slabs, base, k.ttl)...))
	for i, p := range s.ports() {
		if !named(p) || slices.ContainsFunc(s.ports()[:i], func(q port) bool { return q.name == p.name && q.proto == p.proto }) {
			continue
		}
		name := srvName(p, base)
		var rrs []dns.RR
		for _, q := range s.ports()[i:] {
			if q.name == p.name && q.proto == p.proto && s.numIPs() > 0 {
				rrs = append(rrs, slabs.srvRR(name, base, q.port, portWeight(s), k.ttl))
			}
		}
		yield(name, rrs)
	}
}
