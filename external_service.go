package kubesvc

import (
	"context"
	"slices"
	"strings"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// extTarget is one address a service name answers with, for one port (as
// stock's msg.Service): its SRV target is owner, or the host name.
type extTarget struct {
	addr  extAddr
	port  int32 // -1: the service (or slice) has no port, as stock's sentinel
	owner string
}

// service answers stock's names: <ns>.<zone> (a namespace: NODATA),
// <svc>.<ns>.<zone>, <endpoint>.<svc>.<ns>.<zone> (headless) and
// _<port>._<proto>.<svc>.<ns>.<zone>.
func (e *External) service(ctx context.Context, state request.Request, x *extIndex) result {
	segs := dns.SplitDomainName(relName(state.Name(), state.Zone))
	last := len(segs) - 1
	if last < 0 || !e.k.exposedExternally(segs[last]) {
		return result{rcode: dns.RcodeNameError}
	}
	if last == 0 {
		// A namespace's name, while it has services (stock: any name of
		// one label, which would keep a deleted Ingress's host).
		if !e.k.hasNamespace(segs[0]) {
			return result{rcode: dns.RcodeNameError}
		}
		return result{}
	}
	var endpoint, portName, proto string
	switch last {
	case 1:
	case 2:
		endpoint = segs[0]
	case 3:
		var ok1, ok2 bool
		portName, ok1 = strings.CutPrefix(segs[0], "_")
		proto, ok2 = strings.CutPrefix(segs[1], "_")
		if !ok1 || !ok2 {
			return result{rcode: dns.RcodeNameError}
		}
	default:
		return result{rcode: dns.RcodeNameError}
	}
	s := x.svcs.get(segs[last-1] + "." + segs[last])
	if s == nil {
		return result{rcode: dns.RcodeNameError}
	}
	svcName := joinZone(s.name+"."+s.ns, state.Zone)
	var targets []extTarget
	if e.headless && len(s.addrs) == 0 && s.headless {
		for _, ep := range s.endpoints {
			if endpoint == "" || ep.name == endpoint {
				for _, a := range e.face([]extAddr{{ip: ep.addr}}, s.targets) {
					targets = appendTargets(targets, a, ep.ports, portName, proto, ep.name+"."+svcName)
				}
			}
		}
	} else if endpoint == "" {
		// (Stock answers any name below a service with its addresses; it
		// does not exist.)
		for _, a := range e.face(s.addrs, s.targets) {
			targets = appendTargets(targets, a, s.ports, portName, proto, svcName)
		}
	}
	if len(targets) == 0 {
		if proto, ok := strings.CutPrefix(endpoint, "_"); ok && e.hasSRVProto(s, proto) {
			return result{} // _<proto>.<svc>.<ns>.<zone>: the parent of its SRV names
		}
		return result{rcode: dns.RcodeNameError}
	}
	return e.answerTargets(ctx, state, targets)
}

// hasSRVProto reports whether s answers SRV names _<port>._<proto> in this
// block: a named port of that protocol on an address it answers.
func (e *External) hasSRVProto(s *extSvc, proto string) bool {
	named := func(ports []port) bool {
		return slices.ContainsFunc(ports, func(p port) bool { return p.name != "" && p.proto.String() == proto })
	}
	if e.headless && len(s.addrs) == 0 && s.headless {
		return slices.ContainsFunc(s.endpoints, func(ep extEndpoint) bool { return named(ep.ports) })
	}
	return len(e.face(s.addrs, s.targets)) > 0 && named(s.ports)
}

// hasNamespace reports whether namespace ns has services: its
// <ns>.svc.<zone> exists in the first forward zone.
func (k *KubeSvc) hasNamespace(ns string) bool {
	z := k.forwardZone()
	return z >= 0 && k.ix.lookup(within(ns+".svc", k.zones[z].name)) != nil
}

// exposedExternally reports whether kubesvc serves namespace ns (namespaces,
// namespace_labels), as stock's k8s_external asks its kubernetes plugin.
// Under namespace_labels the watcher publishes <ns>.svc.<zone> only for a
// namespace it serves (and <ns>.pod.<zone> only with pods insecure).
func (k *KubeSvc) exposedExternally(ns string) bool {
	if k.namespaceLabels {
		return k.hasNamespace(ns)
	}
	return len(k.namespaces) == 0 || k.namespaces[ns]
}

// forwardZone is the index of kubesvc's first forward zone (there is one).
func (k *KubeSvc) forwardZone() int {
	return slices.IndexFunc(k.zones, func(z zone) bool { return !z.reverse })
}

// appendTargets appends a for each port matching portName and proto ("":
// any), as stock's msg.Services: a port-less service is one target of port
// -1, which only a question without port matches.
func appendTargets(out []extTarget, a extAddr, ports []port, portName, proto, owner string) []extTarget {
	if len(ports) == 0 {
		if portName == "" && proto == "" {
			out = append(out, extTarget{addr: a, port: -1, owner: owner})
		}
		return out
	}
	for _, p := range ports {
		if (portName == "" || portName == p.name) && (proto == "" || proto == p.proto.String()) {
			out = append(out, extTarget{addr: a, port: int32(p.port), owner: owner})
		}
	}
	return out
}

// answerTargets answers a question at a name with targets.
func (e *External) answerTargets(ctx context.Context, state request.Request, targets []extTarget) result {
	switch state.QType() {
	case dns.TypeA, dns.TypeAAAA, dns.TypeCNAME:
		var addrs []extAddr
		for _, t := range targets {
			addrs = appendNew(addrs, t.addr)
		}
		return e.addresses(ctx, state, addrs, e.ttl)
	case dns.TypeSRV:
		return e.srv(ctx, state, targets)
	}
	return result{} // NODATA; stock answers a PTR at a service's name with made-up names
}

// srv answers SRV as stock: one record per target name and port, weighing
// 100 divided by the targets, with the targets' addresses as additional
// records (a host name's looked up through the server's plugin chain).
func (e *External) srv(ctx context.Context, state request.Request, targets []extTarget) result {
	weight := uint16(100 / len(targets))
	if weight == 0 {
		weight = 1
	}
	type seen struct {
		name string
		port int32
		addr extAddr
	}
	dup := map[seen]bool{}
	var res result
	for _, t := range targets {
		if t.port < 0 {
			continue
		}
		target := t.owner
		if t.addr.host != "" {
			target = t.addr.host
		}
		if !dup[seen{name: target, port: t.port}] {
			dup[seen{name: target, port: t.port}] = true
			res.answer = append(res.answer, &dns.SRV{Hdr: dns.RR_Header{Name: state.QName(), Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: e.ttl},
				Weight: weight, Port: uint16(t.port), Target: target})
		}
		if dup[seen{name: target, addr: t.addr}] {
			continue
		}
		dup[seen{name: target, addr: t.addr}] = true
		if t.addr.host != "" {
			ctx = withChaseBudget(ctx) // one for all of this answer's chases
			extra := result{}
			e.chase(ctx, state, &extra, t.addr.host, dns.TypeA)
			e.chase(ctx, state, &extra, t.addr.host, dns.TypeAAAA)
			res.extra = append(res.extra, extra.answer...)
			continue
		}
		res.extra = append(res.extra, e.addrRR(target, t.addr.ip, e.ttl))
	}
	return res
}
