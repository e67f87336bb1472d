package kubesvc

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// resolve answers a question in the external zone state.Zone.
func (e *External) resolve(ctx context.Context, state request.Request, x *extIndex) result {
	name, zone := state.Name(), state.Zone
	switch {
	case name == zone:
		return e.apexAnswer(ctx, state, x)
	case e.ownName(name, zone):
		return e.subApex(state, x)
	}
	if state.QType() == dns.TypePTR {
		if ip := dnsutil.ExtractAddressFromReverse(name); ip != "" {
			return e.reverse(state, x, ip)
		}
	}
	if claims := e.ownClaims(x, name, zone); len(claims) > 0 {
		return e.named(ctx, state, claims)
	}
	res := e.service(ctx, state, x)
	if res.rcode == dns.RcodeNameError && e.emptyNonTerminal(x, name) {
		return result{} // NODATA: names below it exist
	}
	return res
}

// emptyNonTerminal reports whether a name of a kind this block serves lies
// below name (RFC 8020: then name exists, and NXDOMAIN would deny them).
func (e *External) emptyNonTerminal(x *extIndex, name string) bool {
	c := x.ents.get(name)
	return e.hostnames && c[fromHostname] > 0 || e.ingress && c[fromIngress] > 0 || e.gateway && c[fromRoute] > 0
}

// ownName reports whether name is the zone's apex or below <apex>.<zone>,
// the name server's names.
func (e *External) ownName(name, zone string) bool {
	return name == zone || dns.IsSubDomain(joinZone(e.apex, zone), name)
}

// apexAnswer answers at the zone's apex: its SOA, and its NS with the name
// server's addresses, as stock's, and the addresses of an object that names
// the apex itself (an Ingress for example.com).
func (e *External) apexAnswer(ctx context.Context, state request.Request, x *extIndex) result {
	switch state.QType() {
	case dns.TypeA, dns.TypeAAAA:
		claims := e.claims(x, state.Name())
		if len(claims) == 0 {
			return result{}
		}
		// Addresses only: the apex holds the SOA and NS, so no CNAME (a
		// load balancer's host name) may stand there.
		res := e.named(ctx, state, claims)
		res.answer = slices.DeleteFunc(res.answer, func(rr dns.RR) bool {
			return rr.Header().Rrtype != state.QType() || rr.Header().Name != state.QName()
		})
		return res
	case dns.TypeSOA:
		return result{answer: []dns.RR{e.soa(state.Zone, x)}}
	case dns.TypeNS:
		ns := &dns.NS{Hdr: dns.RR_Header{Name: state.Zone, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: e.ttl}, Ns: e.nsName(state.Zone)}
		var extra []dns.RR
		for _, ip := range e.nsAddrs(x) {
			extra = append(extra, e.addrRR(joinZone("ns1."+e.apex, state.QName()), ip, e.ttl))
		}
		return result{answer: []dns.RR{ns}, extra: extra}
	}
	return result{}
}

// subApex answers below <apex>.<zone>: ns1.<apex>.<zone> is the name
// server, <apex>.<zone> its parent, the rest does not exist.
func (e *External) subApex(state request.Request, x *extIndex) result {
	switch relName(state.Name(), state.Zone) {
	case e.apex:
		return result{}
	case "ns1." + e.apex:
		var out []dns.RR
		for _, ip := range e.nsAddrs(x) {
			if rr := e.addrRR(state.QName(), ip, e.ttl); rr.Header().Rrtype == state.QType() {
				out = append(out, rr)
			}
		}
		return result{answer: out}
	}
	return result{rcode: dns.RcodeNameError}
}

// nsAddrs are the name server's addresses: the public ones under public,
// else the external addresses of the kube-dns Service in kube-system (as
// kubesvc's own NS is kube-dns's cluster IPs; stock looks for the Service
// whose endpoints are its own Pod).
func (e *External) nsAddrs(x *extIndex) []netip.Addr {
	if e.public {
		return e.publicIPs
	}
	var out []netip.Addr
	if s := x.svcs.get("kube-dns.kube-system"); s != nil {
		for _, a := range s.addrs {
			if a.ip.IsValid() {
				out = append(out, a.ip)
			}
		}
	}
	return out
}

// reverse answers the PTR query of an external IP with the names of its
// services in the zone (stock's: in the first zone). The public face has no
// reverse names: its addresses are not the services'.
func (e *External) reverse(state request.Request, x *extIndex, ip string) result {
	addr, err := netip.ParseAddr(ip)
	if e.public || err != nil {
		return result{rcode: dns.RcodeNameError}
	}
	var out []dns.RR
	for _, id := range x.rev.get(addr.Unmap().String()) {
		if !e.k.exposedExternally(id[strings.IndexByte(id, '.')+1:]) {
			continue
		}
		out = append(out, &dns.PTR{Hdr: dns.RR_Header{Name: state.QName(), Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: e.ttl}, Ptr: joinZone(id, e.zones[0])})
	}
	if len(out) == 0 {
		return result{rcode: dns.RcodeNameError}
	}
	return result{answer: out}
}

// claims are the claims on name of the kinds this block serves.
func (e *External) claims(x *extIndex, name string) []*extName {
	if !e.ingress && !e.hostnames && !e.gateway {
		return nil
	}
	all := x.names.get(name)
	return slices.DeleteFunc(slices.Clone(all), func(c *extName) bool {
		switch c.source {
		case fromIngress:
			return !e.ingress
		case fromRoute:
			return !e.gateway
		}
		return !e.hostnames
	})
}

// ownClaims are the claims on name (in zone) that may answer it: below a
// service's own name <svc>.<ns>.<zone> (one k8s_external answers), only
// those of objects of namespace ns. Any tenant can annotate its Service or
// write an Ingress host: one of another namespace must not take over the
// names of ns's services.
func (e *External) ownClaims(x *extIndex, name, zone string) []*extName {
	claims := e.claims(x, name)
	if len(claims) == 0 {
		return nil
	}
	// The last two labels, <svc>.<ns>, are the service's key as they stand
	// (no allocation; an escaped dot matches no service).
	rel := relName(name, zone)
	i := strings.LastIndexByte(rel, '.')
	if i < 0 || name == zone {
		return claims
	}
	ns := rel[i+1:]
	if x.svcs.get(rel[strings.LastIndexByte(rel[:i], '.')+1:]) == nil {
		return claims
	}
	return slices.DeleteFunc(claims, func(c *extName) bool {
		_, key, _ := strings.Cut(c.owner, "/") // "<resource>/<ns>/<name>"
		return namespaceOf(key) != ns
	})
}

// named answers a name objects give themselves, with the addresses of
// every object that claims it (or their public face), at the smallest TTL
// that an object's ttl annotation asks, else the block's.
func (e *External) named(ctx context.Context, state request.Request, claims []*extName) result {
	ttl, annotated := e.ttl, false
	var addrs []extAddr
	for _, c := range claims {
		addrs = appendNew(addrs, e.face(c.addrs, c.targets)...)
		if c.hasTTL && (!annotated || c.ttl < ttl) {
			ttl, annotated = c.ttl, true
		}
	}
	return e.addresses(ctx, state, addrs, ttl)
}

// face is what a name answers: its addresses, or with public the object's
// targets if it has any, else the block's public addresses. A name without
// addresses has no public face either.
func (e *External) face(addrs, targets []extAddr) []extAddr {
	if !e.public || len(addrs) == 0 {
		return addrs
	}
	if len(targets) > 0 {
		return targets
	}
	out := make([]extAddr, len(e.publicIPs))
	for i, ip := range e.publicIPs {
		out[i] = extAddr{ip: ip}
	}
	return out
}

func appendNew(have []extAddr, more ...extAddr) []extAddr {
	for _, a := range more {
		if !slices.Contains(have, a) {
			have = append(have, a)
		}
	}
	return have
}

// addresses answers an address question with addrs: A or AAAA records, and
// a CNAME (chased through the server's plugin chain) for a host name; the
// name exists whatever the type asked.
func (e *External) addresses(ctx context.Context, state request.Request, addrs []extAddr, ttl uint32) result {
	var res result
	qtype := state.QType()
	for _, a := range addrs {
		switch {
		case a.host != "" && (qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeCNAME):
			res.answer = append(res.answer, &dns.CNAME{Hdr: dns.RR_Header{Name: state.QName(), Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: ttl}, Target: a.host})
			if qtype != dns.TypeCNAME {
				ctx = withChaseBudget(ctx) // one for all of this answer's chases
				e.chase(ctx, state, &res, a.host, qtype)
			}
		case a.ip.IsValid():
			if rr := e.addrRR(state.QName(), a.ip, ttl); rr.Header().Rrtype == qtype {
				res.answer = append(res.answer, rr)
			}
		}
	}
	return res
}

// chase appends target's records of type qtype, looked up through the
// server's plugin chain, as stock does for a load balancer's host name. As
// kubesvc's own chase, it counts its depth in the lookup's context and
// bounds its time: a host name leading back to its own name (a target
// annotation is any tenant's to write) is answered with its CNAME, not
// chased until the stack runs out.
func (e *External) chase(ctx context.Context, state request.Request, res *result, target string, qtype uint16) {
	if e.upstream == nil {
		return
	}
	ctx = withChaseBudget(ctx)
	depth, _ := ctx.Value(chaseDepth{}).(int)
	budget := ctx.Value(chaseBudget{}).(*atomic.Int32)
	if depth >= maxChase || budget.Add(1) > maxExternalChases {
		return
	}
	m := lookupWithin(context.WithValue(ctx, chaseDepth{}, depth+1), e.upstream, state, target, qtype)
	if m == nil {
		return
	}
	for _, rr := range m.Answer {
		if !containsRR(res.answer, rr) {
			res.answer = append(res.answer, rr)
		}
	}
	res.truncated = res.truncated || m.Truncated
}

// chaseBudget is the context key of a question's count of the lookups its
// chases made, at every depth: a name with several host names, each leading
// back to names with several, would otherwise fan out to their number to
// the power maxChase.
type chaseBudget struct{}

// maxExternalChases bounds the lookups of one question's chases.
const maxExternalChases = 32

// withChaseBudget is ctx with a budget of chases, the one it has if any:
// a question's answer takes it before its first chase, so that all its
// chases, and theirs, draw on one.
func withChaseBudget(ctx context.Context) context.Context {
	if _, ok := ctx.Value(chaseBudget{}).(*atomic.Int32); ok {
		return ctx
	}
	return context.WithValue(ctx, chaseBudget{}, new(atomic.Int32))
}

func (e *External) addrRR(name string, ip netip.Addr, ttl uint32) dns.RR {
	if ip.Is4() {
		return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: ip.AsSlice()}
	}
	return &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: ip.AsSlice()}
}
