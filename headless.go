package kubesvc

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// The answers of a headless service: its endpoints, merged from all of its
// EndpointSlices, by address, name and SRV record.

// member is one name an endpoint address goes by in a headless service.
type member struct {
	ip        netip.Addr
	target    string // <hostname or dashed IP>.<base>; "" when it cannot be a name
	ports     []port
	anonymous bool     // the name of an endpoint without hostname: ip dashed, or its Pod's name
	named     bool     // ip goes by a hostname too (in this or another member)
	zones     []uint16 // zonal: the topology zones slices list ip in (zoneID)
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
// endpoint_pod_names does).
// The result is sorted by address and name: neither the slices' names nor
// their order changes an answer.
func members(s *service, sls []*endpointSlice, base string, podNames bool) []member {
	type merged struct {
		hostnames []string
		anonymous bool     // listed without a hostname (nor a Pod name) by some slice
		pods      []string // Pod names it is listed with, without a hostname
		ports     []port
		zones     []uint16
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
				if ep.zone != 0 && !slices.Contains(m.zones, ep.zone) {
					m.zones = append(m.zones, ep.zone)
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
	out := make([]member, 0, len(byAddr))
	add := func(ip netip.Addr, label string, mg *merged, anonymous, named bool) {
		m := member{ip: ip, ports: mg.ports, anonymous: anonymous, named: named, zones: mg.zones}
		if target := label + "." + base; isLabel(label) && len(target) <= maxName {
			m.target = target
		}
		out = append(out, m)
	}
	for ip, m := range byAddr {
		named := len(m.hostnames) > 0
		if m.anonymous {
			add(ip, dashed(ip), m, true, named)
		}
		for _, p := range m.pods {
			add(ip, p, m, true, named)
		}
		for _, h := range m.hostnames {
			add(ip, h, m, false, named)
		}
	}
	slices.SortFunc(out, func(a, b member) int {
		return cmp.Or(a.ip.Compare(b.ip), strings.Compare(a.target, b.target))
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

// headless answers with the service's members. With none, the service's
// name does not exist (spec 2.4.1: NXDOMAIN), and nothing below it does.
func (r *records) headless(o *owned, s *service, sls []*endpointSlice, base string, primary bool) {
	r.memberAnswers(o, members(s, sls, base, r.podNames), base, primary, r.zonal)
}

// memberAnswers gives a headless service named base the answers of its
// members ms, sorted by address and name; zonal: its zone-scoped names too.
func (r *records) memberAnswers(o *owned, ms []member, base string, primary, zonal bool) {
	if len(ms) == 0 {
		return
	}
	b := o.at(base)
	addrsOf := map[string][]dns.RR{} // target name -> its address records
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
		addrsOf[m.target] = append(addrsOf[m.target], rr)
		// The address's PTR names its hostnames (spec 2.4.2), its dashed
		// form (or Pod name) only when it has none.
		if primary && !(m.anonymous && m.named) {
			o.ptrs = append(o.ptrs, ptrRef{reverse(m.ip), m.target})
		}
	}
	r.headlessSRV(o, ms, base, addrsOf)
	if zonal {
		r.zonalNames(o, ms, base, addrsOf)
	}
}

// headlessSRV adds one SRV per port name, target and port number, even for a
// target with several addresses (a dual-stack pod), in an order of their own;
// and at the service's own name one per target and port number.
func (r *records) headlessSRV(o *owned, ms []member, base string, addrsOf map[string][]dns.RR) {
	type srvKey struct {
		name, target string
		port         uint16
	}
	var keys []srvKey
	seen := map[srvKey]bool{}
	count := map[string]int{}
	for _, m := range ms {
		if m.target == "" {
			continue // no SRV can point at it
		}
		for _, p := range m.ports {
			// The service's own name (beyond the spec, as stock answers
			// it) has one SRV per target and port number, named or not,
			// each weighing 100 divided by the addresses times the ports.
			count[base]++
			if key := (srvKey{base, m.target, p.port}); !seen[key] {
				seen[key] = true
				keys = append(keys, key)
			}
			if !named(p) {
				continue
			}
			key := srvKey{srvName(p, base), m.target, p.port}
			// Each address counts, as at the service's own name: a
			// dual-stack endpoint's target weighs as its two addresses,
			// as stock weighs it.
			count[key.name]++
			if !seen[key] {
				seen[key] = true
				keys = append(keys, key)
				o.at(key.name[len(p.name)+2:]) // _<proto>.<base>, the SRV name's parent
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
		// target's other port numbers follow it. (Searching the additional
		// records instead made a service of n endpoints cost n² steps.)
		if i > 0 && keys[i-1].name == key.name && keys[i-1].target == key.target {
			continue
		}
		for _, rr := range addrsOf[key.target] {
			sb.add(kExtra, rr)
		}
	}
}
