package kubesvc

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// The ready-made records of ServiceImports (multicluster.go). Services are
// answered per query from the index's svcRef; imports are few, exist only
// with the multicluster option, and their headless endpoints go by names
// of two labels (<hostname>.<clusterid>), so they keep the names they own
// as entries published through owned.names, made again on each change.

// importMember is one name an endpoint address of a headless import goes by.
type importMember struct {
	ip        netip.Addr
	target    string // <hostname or dashed IP>.<clusterid>.<base>; "" when it cannot be a name
	ports     []port
	anonymous bool // the name of an endpoint without hostname: ip dashed, or its Pod's name
	named     bool // ip goes by a hostname too (in this or another member)
}

// clusterMembers is the union of what one cluster's slices say of an
// import's ready endpoints, merged by address as members merges a
// Service's (see there), each named below base.
func clusterMembers(s *service, sls []*endpointSlice, base string, podNames bool) []importMember {
	var out []importMember
	var g addrGroup
	emit := func() {
		if !g.listed {
			return
		}
		named := len(g.hostnames) > 0
		add := func(label string, anonymous bool) {
			m := importMember{ip: g.ip, ports: g.ports, anonymous: anonymous, named: named}
			if target := label + "." + base; isLabel(label) && len(target) <= maxName {
				m.target = target
			}
			out = append(out, m)
		}
		if g.anonymous {
			add(dashed(g.ip), true)
		}
		for _, p := range g.pods {
			add(p, true)
		}
		for _, h := range g.hostnames {
			add(h, false)
		}
		g = addrGroup{}
	}
	for it := newAddrMerge(s, sls); ; {
		ip, ep, sl, ok := it.next()
		if !ok || ip != g.ip {
			emit()
		}
		if !ok {
			return out
		}
		g.add(ip, ep, sl, podNames)
	}
}

// importAnswers gives a headless import named base the answers of its
// members ms, sorted by address and name.
func (r *records) importAnswers(o *owned, ms []importMember, base string, primary bool) {
	if len(ms) == 0 {
		return
	}
	b := o.at(base)
	addrOf := make([]dns.RR, len(ms)) // each member's address record at its target
	for i, m := range ms {
		if i == 0 || m.ip != ms[i-1].ip { // one record per address, whatever its names
			b.add(r.addr(base, m.ip))
			if primary {
				o.endpoints++
			}
		}
		if m.target == "" {
			continue // no name of its own, no SRV target, no PTR
		}
		k, rr := r.addr(m.target, m.ip)
		o.at(m.target).add(k, rr)
		addrOf[i] = rr
		// The address's PTR names its hostnames (spec 2.4.2), its dashed
		// form (or Pod name) only when it has none.
		if primary && !(m.anonymous && m.named) {
			o.ptrs = append(o.ptrs, ptrRef{m.ip, m.target})
		}
	}
	r.importSRV(o, ms, base, addrOf)
}

// importSRV adds one SRV per port name, target and port number, and at the
// import's own name one per target and port number; each weighs 100
// divided by the addresses times the ports of its name, as stock counts
// them (a dual-stack endpoint's target weighs as its two addresses). A
// target's additional records are the addresses of the members behind the
// records of that name (addrOf: each member's), as stock adds them: not
// those of a slice with other ports that gives the same hostname.
func (r *records) importSRV(o *owned, ms []importMember, base string, addrOf []dns.RR) {
	type srvKey struct {
		name, target string
		port         uint16
	}
	type nameTarget struct{ name, target string }
	var keys []srvKey
	seen := map[srvKey]bool{}
	count := map[string]int{}
	extra := map[nameTarget][]dns.RR{}
	add := func(key srvKey, i int) {
		count[key.name]++
		if !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
		if nt := (nameTarget{key.name, key.target}); !slices.Contains(extra[nt], addrOf[i]) {
			extra[nt] = append(extra[nt], addrOf[i])
		}
	}
	for i, m := range ms {
		if m.target == "" {
			continue // no SRV can point at it
		}
		for _, p := range numbered(m.ports) {
			add(srvKey{base, m.target, p.port}, i)
			if named(p) {
				name := srvName(p, base)
				add(srvKey{name, m.target, p.port}, i)
				o.at(name[len(p.name)+2:]) // _<proto>.<base>, the SRV name's parent
			}
		}
	}
	slices.SortFunc(keys, func(a, b srvKey) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.target, b.target), cmp.Compare(a.port, b.port))
	})
	for i, key := range keys {
		sb := o.at(key.name)
		sb.add(kSRV, r.srv(key.name, key.target, key.port, uint16(max(1, 100/count[key.name]))))
		// A target's addresses once per SRV name: keys are sorted, so a
		// target's other port numbers follow it.
		if i > 0 && keys[i-1].name == key.name && keys[i-1].target == key.target {
			continue
		}
		for _, rr := range extra[nameTarget{key.name, key.target}] {
			sb.add(kExtra, rr)
		}
	}
}

// importClusterIP gives a ClusterSetIP import named base its address
// records, the SRV records of its own name and of its named ports (each
// weighing 100 divided by its IPs, as stock weighs them; none without an
// IP), and, primary, the PTR references of its IPs.
func (r *records) importClusterIP(o *owned, s *service, sls []*endpointSlice, base string, primary bool) {
	if primary {
		for i := range s.numIPs() {
			ip := s.clusterIP(i)
			o.ptrs = append(o.ptrs, ptrRef{ip, base})
		}
	}
	if r.ignoreEmpty && !hasEndpoint(s, sls) {
		return // the import's names do not exist: NXDOMAIN, which fallthrough may pass on
	}
	b := o.at(base)
	var addrs []dns.RR
	for i := range s.numIPs() {
		ip := s.clusterIP(i)
		k, rr := r.addr(base, ip)
		b.add(k, rr)
		addrs = append(addrs, rr)
	}
	if s.numIPs() > 0 && len(s.ports()) > 0 {
		weight := uint16(max(1, 100/(len(s.ports())*s.numIPs())))
		for i, p := range s.ports() {
			if !portSeen(s.ports()[:i], p) {
				b.add(kSRV, r.srv(base, base, p.port, weight))
			}
		}
		b.by[kExtra] = addrs
	}
	for _, p := range s.ports() {
		if !named(p) {
			continue // only the import's own name answers it
		}
		name := srvName(p, base)
		sb := o.at(name)
		if s.numIPs() > 0 { // a target without an address helps no one: NODATA
			sb.add(kSRV, r.srv(name, base, p.port, uint16(max(1, 100/s.numIPs()))))
			sb.by[kExtra] = addrs
		}
		o.at(name[len(p.name)+2:]) // _<proto>.<base>, the SRV name's parent
	}
}
