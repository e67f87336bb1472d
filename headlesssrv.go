package kubesvc

import (
	"slices"

	"github.com/miekg/dns"
)

// The SRV records of a headless service's names, built when asked from its
// members and their ports (headless.go): one per target and port number,
// weighed as stock weighs them.

// hasPort reports whether some member with a name serves a port named
// pname of protocol proto, with a number or not: _<pname>._<proto> then
// exists.
func (a *hsAnswers) hasPort(pname, proto []byte) bool {
	it := newSRVGroups(a, pname, proto)
	for idx, ok := it.walk.next(); ok; idx, ok = it.walk.next() {
		for _, i := range idx {
			if m := a.hs.members.At(int(i)); a.in(*m) && slices.ContainsFunc(m.ports(), it.matches) {
				return true
			}
		}
	}
	return false
}

// srvGroup is the members sharing one label, and the port numbers they
// serve under one SRV name.
type srvGroup struct {
	idx   []int32
	ports []uint16 // sorted, distinct
	pairs int      // members times their ports, for the service's own name's weight
}

// srvGroups walks the labels' members and their ports of one SRV name:
// every port at the service's own name (pname nil), the ports named pname of
// protocol proto otherwise. Labels without one are skipped.
type srvGroups struct {
	a            *hsAnswers
	pname, proto []byte
	walk         labelWalk
	buf          [16]uint16
	// portless counts the pairs walked that no record gives: members
	// without ports, at the service's own name, and ports without a
	// number. Stock gives both port -1, a record it answers with nowhere
	// but counts in the others' weights.
	portless int
}

func newSRVGroups(a *hsAnswers, pname, proto []byte) srvGroups {
	return srvGroups{a: a, pname: pname, proto: proto, walk: labelWalk{hs: a.hs, maxLabel: a.maxLabel, a: a}}
}

// group returns the next label's members and ports; false when none is left.
func (it *srvGroups) group() (srvGroup, bool) {
	ms := &it.a.hs.members
	for idx, ok := it.walk.next(); ok; idx, ok = it.walk.next() {
		g := srvGroup{idx: idx, ports: it.buf[:0]}
		for _, i := range idx {
			m := ms.At(int(i))
			if !it.a.in(*m) {
				continue
			}
			if m.nPorts == 0 && it.pname == nil {
				it.portless++
			}
			for _, p := range m.ports() {
				if !it.matches(p) {
					continue
				}
				if p.port == 0 {
					it.portless++
					continue
				}
				g.pairs++
				if !slices.Contains(g.ports, p.port) {
					g.ports = append(g.ports, p.port)
				}
			}
		}
		if len(g.ports) > 0 {
			slices.Sort(g.ports)
			return g, true
		}
	}
	return srvGroup{}, false
}

// matches says whether p is a port of the SRV name: every port at the
// service's own name.
func (it *srvGroups) matches(p port) bool {
	return it.pname == nil || p.name == string(it.pname) && p.proto.String() == string(it.proto)
}

// serves says whether member m is behind a record of the SRV name: in the
// answer, with a port of the name that has a number. Only such a member's
// address is an additional record of its target, as stock adds them:
// another address of the same hostname (of a slice with other ports, none,
// or none with a number) does not serve the port.
func (it *srvGroups) serves(m *hsMember) bool {
	if !it.a.in(*m) {
		return false
	}
	for _, p := range m.ports() {
		if p.port != 0 && it.matches(p) {
			return true
		}
	}
	return false
}

// srv is the SRV records of the service's own name (pname nil) or of
// _<pname>._<proto>.<service>, at owner: one per target and port number,
// sorted by target and port, and the targets' addresses, once per target.
// Each weighs 100 divided by the endpoint addresses times their ports (of
// that name), as stock counts them: a dual-stack endpoint's target weighs
// as its two addresses, and at the service's own name an endpoint of a
// portless slice as one.
func (a *hsAnswers) srv(owner string, pname, proto []byte) (answer, extra []dns.RR) {
	n, x, pairs := 0, 0, 0
	it := newSRVGroups(a, pname, proto)
	for g, ok := it.group(); ok; g, ok = it.group() {
		n += len(g.ports)
		x += len(g.idx)
		pairs += g.pairs
	}
	pairs += it.portless
	if n == 0 {
		return nil, nil
	}
	weight := uint16(max(1, 100/pairs))
	answer, extra = a.slabs.rrs(min(n, maxPerKind))[:0], a.slabs.rrs(min(x, maxPerKind))[:0]
	ms := &a.hs.members
	it = newSRVGroups(a, pname, proto)
	for g, ok := it.group(); ok; g, ok = it.group() {
		target := a.slabs.memberName(ms.At(int(g.idx[0])), a.base)
		for _, p := range g.ports {
			if len(answer) < cap(answer) {
				answer = append(answer, a.slabs.srvRR(owner, target, p, weight, a.ttl))
			}
		}
		for _, i := range g.idx {
			if m := ms.At(int(i)); len(extra) < cap(extra) && it.serves(m) {
				extra = append(extra, a.slabs.addr(target, m.ip(), a.ttl))
			}
		}
	}
	return answer, extra
}
