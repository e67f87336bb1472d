package kubesvc

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// A headless service's answers are its endpoints, merged from all of its
// EndpointSlices. They are kept compact, as an hsRecord, and the records of
// a question are built when it is asked (headlessanswer.go): a readiness
// flip in a service of a thousand endpoints then costs the merge of its
// slices, not the rebuilding and comparing of two thousand names' answers.

// hsMember is one name an endpoint address goes by in a headless service.
type hsMember struct {
	ip    netip.Addr
	label string // hostname, dashed address or Pod name; "" when it cannot be a label
	ports []port
	ptr   bool // the address's PTR names this member (spec 2.4.2)
}

// hsRecord is a headless service with at least one endpoint that answers
// for it. It is immutable once published: queries read it without locks.
type hsRecord struct {
	members []hsMember // sorted by address, then label
	byLabel []int32    // the members with a label, sorted by label, then address
	addrs   int        // distinct addresses: the A and AAAA records of the service's name
	names   int        // names it owns, for the index_names gauge
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
// their order changes an answer.
func members(s *service, sls []*endpointSlice, podNames bool) []hsMember {
	type merged struct {
		hostnames []string
		anonymous bool     // listed without a hostname (nor a Pod name) by some slice
		pods      []string // Pod names it is listed with, without a hostname
		ports     []port
	}
	byAddr := map[netip.Addr]*merged{}
	for _, sl := range sls {
		for _, ep := range sl.endpoints {
			if !ep.ready && !s.publishNotReady {
				continue
			}
			for _, ip := range ep.addrs {
				m := byAddr[ip]
				if m == nil {
					m = &merged{ports: sl.ports}
					byAddr[ip] = m
				} else {
					m.ports = appendPorts(m.ports, sl.ports)
				}
				switch {
				case ep.podName && podNames:
					if !slices.Contains(m.pods, ep.hostname) {
						m.pods = append(m.pods, ep.hostname)
					}
				case ep.podName || !isLabel(ep.hostname):
					m.anonymous = true
				case !slices.Contains(m.hostnames, ep.hostname):
					m.hostnames = append(m.hostnames, ep.hostname)
				}
			}
		}
	}
	out := make([]hsMember, 0, len(byAddr))
	add := func(ip netip.Addr, label string, ports []port, ptr bool) {
		if !isLabel(label) {
			label, ptr = "", false
		}
		out = append(out, hsMember{ip: ip, label: label, ports: ports, ptr: ptr})
	}
	for ip, m := range byAddr {
		named := len(m.hostnames) > 0
		if m.anonymous {
			add(ip, dashed(ip), m.ports, !named)
		}
		for _, p := range m.pods {
			add(ip, p, m.ports, !named)
		}
		for _, h := range m.hostnames {
			add(ip, h, m.ports, true)
		}
	}
	slices.SortFunc(out, func(a, b hsMember) int {
		return cmp.Or(a.ip.Compare(b.ip), strings.Compare(a.label, b.label))
	})
	return out
}

func appendPorts(have, more []port) []port {
	for _, p := range more {
		if !slices.Contains(have, p) {
			have = append(slices.Clip(have), p)
		}
	}
	return have
}

// dashed is the name an endpoint without a hostname goes by: its address
// with '.' or ':' replaced by '-'. An IPv6 address whose compressed form
// starts or ends with "::" gets a 0 there (fd00:: is fd00--0, ::1 is 0--1):
// a label cannot start or end with '-', and the form still reads back as
// the same address (pods insecure parses it). Stock adds the trailing 0 but
// not the leading one.
func dashed(ip netip.Addr) string {
	if ip.Is4() {
		return strings.ReplaceAll(ip.String(), ".", "-")
	}
	s := strings.ReplaceAll(ip.WithZone("").String(), ":", "-")
	if s[0] == '-' {
		s = "0" + s
	}
	if s[len(s)-1] == '-' {
		s += "0"
	}
	return s
}

// newHeadless is the record of a headless service, or nil if no endpoint
// answers for it: then the service's name does not exist (spec 2.4.1:
// NXDOMAIN), and nothing below it does.
func newHeadless(s *service, sls []*endpointSlice, podNames bool) *hsRecord {
	ms := members(s, sls, podNames)
	if len(ms) == 0 {
		return nil
	}
	hs := &hsRecord{members: ms}
	srvNames := map[port]bool{} // named ports with the name and protocol only
	protos := map[string]bool{}
	for i, m := range ms {
		if i == 0 || m.ip != ms[i-1].ip {
			hs.addrs++
		}
		if m.label == "" {
			continue
		}
		hs.byLabel = append(hs.byLabel, int32(i))
		for _, p := range m.ports {
			if named(p) {
				srvNames[port{name: p.name, proto: p.proto}] = true
				protos[p.proto] = true
			}
		}
	}
	slices.SortFunc(hs.byLabel, func(a, b int32) int {
		return cmp.Or(strings.Compare(ms[a].label, ms[b].label), ms[a].ip.Compare(ms[b].ip))
	})
	labels := 0
	for i, m := range hs.byLabel {
		if i == 0 || ms[m].label != ms[hs.byLabel[i-1]].label {
			labels++
		}
	}
	hs.names = 1 + labels + len(srvNames) + len(protos)
	return hs
}

// sameHeadless reports whether a and b (nil: none) answer alike.
func sameHeadless(a, b *hsRecord) bool {
	if a == nil || b == nil {
		return a == b
	}
	return slices.EqualFunc(a.members, b.members, func(x, y hsMember) bool {
		return x.ip == y.ip && x.label == y.label && x.ptr == y.ptr && slices.Equal(x.ports, y.ports)
	})
}

// hsRefDiff are the PTR references (reverse name -> target in the zone of
// base, the service's name there) that old has and now has not, and those
// now has and old has not. Both member lists are sorted alike, so one pass
// finds them: a flip in a service of a thousand endpoints makes the reverse
// names of the one address that changed, not of all of them.
func hsRefDiff(old, now *hsRecord, base string) (gone, came []ptrRef) {
	var a, b []hsMember
	if old != nil {
		a = old.members
	}
	if now != nil {
		b = now.members
	}
	ref := func(m hsMember) ptrRef { return ptrRef{reverse(m.ip), m.label + "." + base} }
	fits := func(m hsMember) bool { return m.ptr && len(m.label)+1+len(base) <= maxName }
	for len(a) > 0 || len(b) > 0 {
		c := 0
		switch {
		case len(a) == 0:
			c = 1
		case len(b) == 0:
			c = -1
		default:
			c = cmp.Or(a[0].ip.Compare(b[0].ip), strings.Compare(a[0].label, b[0].label))
		}
		switch {
		case c < 0:
			if fits(a[0]) {
				gone = append(gone, ref(a[0]))
			}
			a = a[1:]
		case c > 0:
			if fits(b[0]) {
				came = append(came, ref(b[0]))
			}
			b = b[1:]
		default:
			if fits(a[0]) && !fits(b[0]) {
				gone = append(gone, ref(a[0]))
			} else if fits(b[0]) && !fits(a[0]) {
				came = append(came, ref(b[0]))
			}
			a, b = a[1:], b[1:]
		}
	}
	return gone, came
}
