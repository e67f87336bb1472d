package kubesvc

import (
	"bytes"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// The answers of a headless service, built for each question from its
// hsRecord. They are the answers the specification gives the names below
// <service>.<namespace>.svc.<zone>:
//
//	<service>                  A/AAAA of every endpoint address (2.4.1), and
//	                           SRV per target and port number (beyond the
//	                           spec, as stock answers it)
//	<label>.<service>          A/AAAA of the endpoint's addresses (2.4.1)
//	_<port>._<proto>.<service> SRV per target and port number, the targets'
//	                           addresses as additional records (2.4.2)
//	_<proto>.<service>         no records: the parent of the SRV names
//
// Records are carved from the slabs replies use (casing.go), so a query
// allocates only when a slab runs out: a slab holds 64 records.

// hsAnswers builds one question's records.
type hsAnswers struct {
	hs    *hsRecord
	slabs *caseSlabs
	ttl   uint32
	base  string // the service's name, lower-cased
	// maxLabel is the longest label a member's name can have in this zone:
	// a longer one would make a name past 255 octets, and has none.
	maxLabel int
	one      [1]int32 // the member a dashed label finds
	// zone (zonal) is the topology zone of a zone-scoped name asked: only
	// its members answer (in); "": every member.
	zone string
}

// headlessAnswer answers qtype at name (lower-cased), the name of the
// headless service hs or one under it; the service's name starts at
// name[start:].
func (k *KubeSvc) headlessAnswer(hs *hsRecord, name []byte, start, z int, qtype uint16) result {
	slabs := caseCursors.Get().(*caseSlabs)
	defer caseCursors.Put(slabs)
	owner := slabs.str(name)
	a := &hsAnswers{hs: hs, slabs: slabs, ttl: k.ttl, base: owner[start:]}
	a.maxLabel = maxName - 1 - len(a.base)
	if start == 0 {
		return k.hsService(a, a.base, z, qtype)
	}
	prefix := name[:start-1]
	if k.zonal {
		if res, ok := k.zonalAnswer(a, owner, prefix, z, qtype); ok {
			return res
		}
	}
	dot := bytes.IndexByte(prefix, '.')
	switch {
	case dot < 0 && prefix[0] == '_': // _<proto>
		if !a.hasProto(prefix[1:]) {
			return k.negative(z, dns.RcodeNameError)
		}
		return k.negative(z, dns.RcodeSuccess)
	case dot < 0: // <label>
		idx := a.member(prefix)
		if len(idx) == 0 {
			return k.negative(z, dns.RcodeNameError)
		}
		if qtype != dns.TypeA && qtype != dns.TypeAAAA && qtype != dns.TypeANY {
			return k.negative(z, dns.RcodeSuccess)
		}
		return k.positive(z, a.labelAddrs(owner, idx, qtype), nil)
	}
	pname, proto := prefix[:dot], prefix[dot+1:]
	if len(pname) < 2 || pname[0] != '_' || len(proto) < 2 || proto[0] != '_' || bytes.IndexByte(proto, '.') >= 0 {
		return k.negative(z, dns.RcodeNameError)
	}
	answer, extra := a.srv(owner, pname[1:], proto[1:])
	switch {
	case len(answer) == 0 && !a.hasPort(pname[1:], proto[1:]):
		return k.negative(z, dns.RcodeNameError)
	case len(answer) == 0: // its ports have no number (endpointPort)
		return k.negative(z, dns.RcodeSuccess)
	case qtype == dns.TypeSRV:
		return result{answer: answer, extra: extra}
	case qtype == dns.TypeANY:
		return result{answer: answer}
	}
	return k.negative(z, dns.RcodeSuccess)
}

// hsService answers the service's own name, or a zone-scoped name of it
// (owner).
func (k *KubeSvc) hsService(a *hsAnswers, owner string, z int, qtype uint16) result {
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		return k.positive(z, a.addrs(owner, qtype), nil)
	case dns.TypeSRV:
		answer, extra := a.srv(owner, nil, nil)
		return k.positive(z, answer, extra)
	case dns.TypeANY:
		srv, _ := a.srv(owner, nil, nil)
		addrs := a.addrs(owner, dns.TypeANY)
		all := a.slabs.rrs(len(addrs) + len(srv))
		copy(all[copy(all, addrs):], srv)
		return result{answer: all}
	}
	return k.negative(z, dns.RcodeSuccess)
}

// wants reports whether a question of type qtype is answered by ip's
// record (ANY by both).
func wants(qtype uint16, ip netip.Addr) bool {
	return qtype == dns.TypeANY || ip.Is4() == (qtype == dns.TypeA)
}

// addrs are the service's records of its endpoints' addresses at owner,
// one per address, A before AAAA (members are sorted so).
func (a *hsAnswers) addrs(owner string, qtype uint16) []dns.RR {
	n := 0
	a.eachAddr(qtype, func(netip.Addr) { n++ })
	out := a.slabs.rrs(min(n, maxPerKind))[:0]
	a.eachAddr(qtype, func(ip netip.Addr) {
		if len(out) < cap(out) {
			out = append(out, a.slabs.addr(owner, ip, a.ttl))
		}
	})
	return out
}

// eachAddr calls f with each address of the members (once each, in order)
// that question type qtype asks for, of the members in the asked zone.
func (a *hsAnswers) eachAddr(qtype uint16, f func(netip.Addr)) {
	var last addr16
	first := true
	for _, c := range a.hs.members.chunks {
		for j := range c {
			m := &c[j]
			if first || m.at != last {
				if ip := m.ip(); wants(qtype, ip) && a.in(*m) {
					f(ip)
				}
			}
			last, first = m.at, false
		}
	}
}

// member finds the members named label, as indexes into members.
func (a *hsAnswers) member(label []byte) []int32 {
	if len(label) > a.maxLabel {
		return nil
	}
	ms := &a.hs.members
	if !a.hs.allByLabel {
		if ip, ok := dashedIP(label); ok {
			for i := ms.search(ip); i < ms.Len() && ms.At(i).ip() == ip; i++ {
				if m := ms.At(i); m.dashed && m.compareLabelTo(label) == 0 {
					a.one[0] = int32(i)
					return a.one[:]
				}
			}
			return nil
		}
	}
	by := a.hs.byLabel
	// A binary search written out: the generic one lets label escape,
	// and with it the buffer of every question's name.
	lo, hi := 0, len(by)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if ms.At(int(by[mid])).compareLabelTo(label) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for hi = lo; hi < len(by) && ms.At(int(by[hi])).compareLabelTo(label) == 0; hi++ {
	}
	return by[lo:hi]
}

// labelAddrs are the address records of the members idx, which share a
// label, at owner.
func (a *hsAnswers) labelAddrs(owner string, idx []int32, qtype uint16) []dns.RR {
	out := a.slabs.rrs(len(idx))[:0]
	for _, i := range idx {
		if ip := a.hs.members.At(int(i)).ip(); wants(qtype, ip) {
			out = append(out, a.slabs.addr(owner, ip, a.ttl))
		}
	}
	return out
}

// labelWalk walks the members with a label, a label at a time: the dashed
// ones in address order, then byLabel's.
type labelWalk struct {
	hs       *hsRecord
	dashed   int // next in members
	byLabel  int // next in byLabel
	one      [1]int32
	maxLabel int
	// a (nil: every label) skips the labels none of whose members is in
	// a's zone (hsAnswers.in); the callers skip the members that are not.
	a *hsAnswers
}

// next returns the members of the next label that fits in a name.
func (w *labelWalk) next() ([]int32, bool) {
	ms, by := &w.hs.members, w.hs.byLabel
	for !w.hs.allByLabel && w.dashed < ms.Len() {
		i := w.dashed
		w.dashed++
		if m := ms.At(i); m.dashed && m.labelFits(w.maxLabel) && (w.a == nil || w.a.in(*m)) {
			w.one[0] = int32(i)
			return w.one[:], true
		}
	}
	for w.byLabel < len(by) {
		lo := w.byLabel
		first := ms.At(int(by[lo]))
		hi := lo + 1
		for hi < len(by) && sameLabel(ms.At(int(by[hi])), first) {
			hi++
		}
		w.byLabel = hi
		if !first.labelFits(w.maxLabel) {
			continue
		}
		if w.a == nil || w.a.zone == "" {
			return by[lo:hi], true
		}
		for _, i := range by[lo:hi] {
			if w.a.in(*ms.At(int(i))) {
				return by[lo:hi], true
			}
		}
	}
	return nil, false
}

// hasProto reports whether some member with a name serves a named port of
// protocol proto: _<proto>.<service> is then the parent of an SRV name.
func (a *hsAnswers) hasProto(proto []byte) bool {
	w := labelWalk{hs: a.hs, maxLabel: a.maxLabel}
	for idx, ok := w.next(); ok; idx, ok = w.next() {
		for _, i := range idx {
			for _, p := range a.hs.members.At(int(i)).ports() {
				if named(p) && p.proto.String() == string(proto) {
					return true
				}
			}
		}
	}
	return false
}

// names calls yield with each name of the service that has records, its
// records of every type and the additional records of its SRV answer, for
// zone transfers.
func (a *hsAnswers) names(yield func(name string, rrs, extra []dns.RR)) {
	srv, extra := a.srv(a.base, nil, nil)
	yield(a.base, append(a.addrs(a.base, dns.TypeANY), srv...), extra)
	ms := &a.hs.members
	var srvNames []port // named ports' names and protocols, once each
	w := labelWalk{hs: a.hs, maxLabel: a.maxLabel}
	for idx, ok := w.next(); ok; idx, ok = w.next() {
		owner := a.slabs.memberName(ms.At(int(idx[0])), a.base)
		yield(owner, a.labelAddrs(owner, idx, dns.TypeANY), nil)
		for _, i := range idx {
			for _, p := range ms.At(int(i)).ports() {
				if np := (port{name: p.name, proto: p.proto}); named(p) && !slices.Contains(srvNames, np) {
					srvNames = append(srvNames, np)
				}
			}
		}
	}
	for _, p := range srvNames {
		owner := srvName(p, a.base)
		answer, extra := a.srv(owner, []byte(p.name), []byte(p.proto.String()))
		yield(owner, answer, extra)
	}
}
