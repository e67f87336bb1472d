package kubesvc

import (
	"net/netip"
	"slices"
	"unsafe"
)

// A headless service's answers are its endpoints, merged from all of its
// EndpointSlices. They are kept compact, as an hsRecord, and the records of
// a question are built when it is asked (headlessanswer.go): a readiness
// flip in a service of a thousand endpoints then costs the merge of its
// slices, not the rebuilding and comparing of two thousand names' answers.

// hsMember is one name an endpoint address goes by in a headless service.
type hsMember struct {
	at addr16 // its address: ip()
	// labelAt and nLabel are label(): the hostname or Pod name it goes
	// by; "" for a member going by its dashed address (dashed), whose
	// label is written from ip when asked (appendLabel: no string a member,
	// most have none other), and for one whose name cannot be a label. An
	// address and a length byte (keepName), where a string took 8 bytes
	// more: 40 a member, not 48.
	labelAt unsafe.Pointer
	// portList and nPorts are ports(): a pointer and a count, where a
	// slice header took 24 bytes of every member.
	portList *port
	nPorts   uint16
	nLabel   uint8
	ptr      bool   // the address's PTR names this member (spec 2.4.2)
	dashed   bool   // it goes by its address dashed
	zone     uint16 // zonal: the topology zones slices list ip in (zoneSet); fits in padding
}

func newMember(ip netip.Addr, label string, ports []port, ptr, dashed bool, zone uint16) hsMember {
	m := hsMember{at: addr16Of(ip), ptr: ptr, dashed: dashed, zone: zone}
	m.labelAt, m.nLabel = keepName(label)
	if len(ports) > 0 { // at most 100 (the API's limit for a slice)
		m.portList, m.nPorts = &ports[0], uint16(len(ports))
	}
	return m
}

// ip is the member's address.
func (m *hsMember) ip() netip.Addr { return m.at.addr() }

// label is the hostname or Pod name the member goes by, "" for none (its
// dashed label is appendLabel's).
func (m *hsMember) label() string { return keptName(m.labelAt, m.nLabel) }

// ports are the ports of the member's slice (shared by its members).
func (m *hsMember) ports() []port { return unsafe.Slice(m.portList, m.nPorts) }

// hsRecord is a headless service with at least one endpoint that answers
// for it. It is immutable once published: queries read it without locks.
type hsRecord struct {
	members memberList // sorted by address, then label
	// byLabel are the members with a label other than their dashed
	// address, sorted by label, then address; a dashed label is found from
	// the address it reads as. If some hostname reads as an address too,
	// the two kinds could share a label: then byLabel holds every member
	// with a label (allByLabel).
	byLabel    []int32
	allByLabel bool
	addrs      int // distinct addresses: the A and AAAA records of the service's name
	names      int // names it owns, for the index_names gauge
}

// members is the union of what the slices say of the service's ready
// endpoints (all of them with publishNotReadyAddresses), merged by address:
// an address listed ready by any slice is ready; it goes by every hostname
// a slice gives it, and by its dashed form if a slice lists it without a
// hostname; and it serves every port of every slice that lists it. So an
// address listed without a hostname in one slice and with one in another
// (while it moves between slices, or gains the hostname) has both names, as
// the specification asks of each of the two endpoints and as stock answers.
// With podNames, an endpoint without a hostname goes by its Pod's name
// where its targetRef gives one, instead of the dashed address (as stock's
// endpoint_pod_names does). The address's PTR names its hostnames, and its
// dashed form (or Pod name) only when it has none.
// The result is sorted by address and label: neither the slices' names nor
// their order changes an answer. prev (nil: none) is the service's record
// before the change.
func members(s *service, sls []*endpointSlice, podNames bool, prev *hsRecord, edit *sliceEdit) memberList {
	if prev != nil && edit != nil {
		return prev.members.patched(patchMembers(s, sls, podNames, prev, edit))
	}
	var (
		out []hsMember
		g   addrGroup
	)
	if prev != nil {
		out = make([]hsMember, 0, prev.members.Len()+1)
	} else {
		n := 0 // an address goes by one label, mostly
		for _, sl := range sls {
			n += len(sl.endpoints)
		}
		out = make([]hsMember, 0, n)
	}
	for it := newAddrMerge(s, sls); ; {
		ip, ep, sl, ok := it.next()
		if !ok || ip != g.ip && g.listed {
			out = g.emit(out)
			g = addrGroup{}
		}
		if !ok {
			if cap(out) > len(out)+len(out)/8 {
				out = slices.Clone(out) // the index keeps it: not with room to grow
			}
			return newMemberList(out)
		}
		g.add(ip, ep, sl, podNames)
	}
}

// sliceEdit is the change that led from a headless record to the next: one
// slice's old and new version (nil: none).
type sliceEdit struct{ old, now *endpointSlice }

// patchMembers are the edits of members after edit, given prev, the record
// before it: only the addresses whose entries in the slice changed are
// merged again from every slice; the others' members are prev's. A
// readiness flip in a service of a thousand endpoints so merges one
// address, not a thousand, and copies one chunk of members (memberList).
func patchMembers(s *service, sls []*endpointSlice, podNames bool, prev *hsRecord, edit *sliceEdit) []memberEdit {
	var olds, nows []endpoint
	if edit.old != nil {
		olds = edit.old.endpoints
	}
	if edit.now != nil {
		nows = edit.now.endpoints
	}
	// With other ports every address of the slice changes.
	samePorts := edit.old != nil && edit.now != nil && slices.Equal(edit.old.ports, edit.now.ports)
	var out []memberEdit
	for len(olds) > 0 || len(nows) > 0 {
		var ip netip.Addr // the next address either version lists
		switch {
		case len(nows) == 0 || len(olds) > 0 && olds[0].ip().Less(nows[0].ip()):
			ip = olds[0].ip()
		default:
			ip = nows[0].ip()
		}
		o, n := 0, 0
		for o < len(olds) && olds[o].ip() == ip {
			o++
		}
		for n < len(nows) && nows[n].ip() == ip {
			n++
		}
		same := samePorts && slices.EqualFunc(olds[:o], nows[:n], sameEndpoint)
		olds, nows = olds[o:], nows[n:]
		if same || !ip.IsValid() {
			continue // what the slice says of it is unchanged; or a compact slice's summary
		}
		var g addrGroup
		for _, sl := range sls { // in the order members merges them
			eps := sl.endpoints
			j, _ := slices.BinarySearchFunc(eps, ip, func(e endpoint, ip netip.Addr) int { return e.ip().Compare(ip) })
			for ; j < len(eps) && eps[j].ip() == ip; j++ {
				if eps[j].ready || s.is(svcPublishNotReady) {
					g.add(ip, &eps[j], sl, podNames)
				}
			}
		}
		out = append(out, memberEdit{ip: ip, members: g.emit(nil)})
	}
	return out
}

// addrGroup is what the slices say of one address.
type addrGroup struct {
	ip        netip.Addr
	listed    bool
	hostnames []string
	anonymous bool     // listed without a hostname (nor a Pod name) by some slice
	pods      []string // Pod names it is listed with, without a hostname
	ports     []port
	zones     []uint16 // zonal: the topology zones it is listed in (zoneID)
}

func (g *addrGroup) add(ip netip.Addr, ep *endpoint, sl *endpointSlice, podNames bool) {
	if !g.listed {
		g.ip, g.listed, g.ports = ip, true, sl.ports
	} else {
		g.ports = appendPorts(g.ports, sl.ports)
	}
	if ep.zone != 0 && !slices.Contains(g.zones, ep.zone) {
		g.zones = append(g.zones, ep.zone)
	}
	switch {
	case ep.podName && podNames:
		if !slices.Contains(g.pods, ep.hostname()) {
			g.pods = append(g.pods, ep.hostname())
		}
	case ep.podName || !isLabel(ep.hostname()):
		g.anonymous = true
	case !slices.Contains(g.hostnames, ep.hostname()):
		g.hostnames = append(g.hostnames, ep.hostname())
	}
}

// emit appends the address's members, sorted by label.
func (g *addrGroup) emit(out []hsMember) []hsMember {
	if !g.listed {
		return out
	}
	first := len(out)
	named := len(g.hostnames) > 0
	zone := zoneSet(g.zones)
	add := func(label string, ptr bool) {
		if !isLabel(label) {
			label, ptr = "", false
		}
		out = append(out, newMember(g.ip, label, g.ports, ptr, false, zone))
	}
	if g.anonymous { // a dashed address is always a label
		out = append(out, newMember(g.ip, "", g.ports, !named, true, zone))
	}
	for _, p := range g.pods {
		add(p, !named)
	}
	for _, h := range g.hostnames {
		add(h, true)
	}
	if len(out)-first > 1 {
		slices.SortFunc(out[first:], func(a, b hsMember) int { return compareLabels(&a, &b) })
	}
	return out
}

// addrMerge walks the addresses the slices list for a service, in address
// order, merging the slices' runs: a slice's endpoints are sorted by address
// (see endpointSliceOf).
type addrMerge struct {
	s    *service
	runs []addrRun
}

type addrRun struct {
	sl  *endpointSlice
	eps []endpoint // sorted by address
}

func newAddrMerge(s *service, sls []*endpointSlice) *addrMerge {
	it := &addrMerge{s: s, runs: make([]addrRun, 0, len(sls))}
	for _, sl := range sls {
		it.runs = append(it.runs, addrRun{sl: sl, eps: sl.endpoints})
	}
	return it
}

// head is the run's next endpoint that answers for the service.
func (it *addrMerge) head(r *addrRun) (*endpoint, bool) {
	for len(r.eps) > 0 {
		ep := &r.eps[0]
		if ep.ip().IsValid() && (ep.ready || it.s.is(svcPublishNotReady)) {
			return ep, true
		}
		r.eps = r.eps[1:]
	}
	return nil, false
}

// next is the lowest address any run has next, and the endpoint and slice
// listing it; false when every run is done.
func (it *addrMerge) next() (netip.Addr, *endpoint, *endpointSlice, bool) {
	best := -1
	var ep *endpoint
	for i := range it.runs {
		if e, ok := it.head(&it.runs[i]); ok && (best < 0 || e.ip().Less(ep.ip())) {
			best, ep = i, e
		}
	}
	if best < 0 {
		return netip.Addr{}, nil, nil, false
	}
	r := &it.runs[best]
	r.eps = r.eps[1:]
	return ep.ip(), ep, r.sl, true
}

func appendPorts(have, more []port) []port {
	for _, p := range more {
		if !slices.Contains(have, p) {
			have = append(slices.Clip(have), p)
		}
	}
	return have
}

// newHeadless is the record of a headless service, or nil if no endpoint
// answers for it: then the service's name does not exist (spec 2.4.1:
// NXDOMAIN), and nothing below it does.
// prev (nil: none) is its record before the change.
// edit (nil: unknown) is the change since prev.
func newHeadless(s *service, sls []*endpointSlice, podNames bool, prev *hsRecord, edit *sliceEdit) *hsRecord {
	hs := &hsRecord{members: members(s, sls, podNames, prev, edit)}
	if hs.members.Len() == 0 {
		return nil
	}
	ms := &hs.members
	var srvNames []port // named ports' names and protocols, once each
	var protos []protocol
	dashedLabels := 0
	for k, sum := range ms.sums {
		hs.addrs += int(sum.addrs) // an address's members are in one chunk (memberList)
		dashedLabels += int(sum.dashed)
		hs.allByLabel = hs.allByLabel || sum.mayBeDashed
		for _, ps := range sum.ports {
			for _, p := range ps {
				if np := (port{name: p.name, proto: p.proto}); named(p) && !slices.Contains(srvNames, np) {
					srvNames = append(srvNames, np)
				}
				if named(p) && !slices.Contains(protos, p.proto) {
					protos = append(protos, p.proto)
				}
			}
		}
		if sum.labelled == 0 || hs.allByLabel {
			continue // (all of them are gathered below)
		}
		for j, m := range ms.chunks[k] {
			if m.label() != "" && !m.dashed {
				hs.byLabel = append(hs.byLabel, ms.starts[k]+int32(j))
			}
		}
	}
	if hs.allByLabel {
		hs.byLabel = hs.byLabel[:0]
		for i := range ms.Len() {
			if ms.At(i).hasLabel() {
				hs.byLabel = append(hs.byLabel, int32(i))
			}
		}
	}
	// With allByLabel the dashed members are in byLabel, counted there.
	labels := sortByLabel(ms, hs.byLabel, hs.allByLabel && dashedLabels > 0)
	if !hs.allByLabel {
		labels += dashedLabels
	}
	hs.names = 1 + labels + len(srvNames) + len(protos)
	return hs
}

// sameHeadless reports whether a and b (nil: none) answer alike.
func sameHeadless(a, b *hsRecord) bool {
	if a == nil || b == nil {
		return a == b
	}
	return sameMembers(&a.members, &b.members)
}
