package kubesvc

import (
	"bytes"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// result is the answer to one question, before it becomes a message.
type result struct {
	rcode  int
	answer []dns.RR
	ns     []dns.RR
	extra  []dns.RR
	chase  string // ExternalName target whose addresses follow the CNAME
	// truncated: part of the answer came from a lookup whose reply was
	// truncated (TC), so the client must retry over TCP to get it whole.
	truncated bool
}

// zoneOf returns the index of the most specific zone name falls in, or -1.
// name is lower-cased.
func (k *KubeSvc) zoneOf(name []byte) int {
	best, bestLen := -1, -1
	for i, z := range k.zones {
		if len(z.name) > bestLen && inZone(name, z.name) {
			best, bestLen = i, len(z.name)
		}
	}
	return best
}

func inZone(name []byte, zone string) bool {
	if zone == "." {
		return true
	}
	n := len(name) - len(zone)
	if n < 0 || string(name[n:]) != zone || n > 0 && name[n-1] != '.' {
		return false
	}
	// An escaped dot ("blog\\.cluster.local." is the labels "blog.cluster"
	// and "local") is no label boundary: for a name with escapes, compare by
	// labels. Rare, so it may allocate.
	return n == 0 || bytes.IndexByte(name[:n], '\\') < 0 || dns.IsSubDomain(zone, string(name))
}

// resolve answers a lower-cased name in zone z from the index.
func (k *KubeSvc) resolve(name []byte, z int, qtype uint16) result {
	zone := k.zones[z]
	if len(name) == len(zone.name) || zone.name == "." && len(name) == 1 {
		return k.apex(z, qtype)
	}
	e := k.ix.get(name)
	if e == nil {
		if ip, ok := reverseIP(name); ok {
			return k.ptrAnswer(name, ip, z, qtype)
		}
		// A multicluster zone's names are ServiceImports', all in entries.
		if !zone.multicluster {
			if ref, start := k.ix.serviceUnder(name, zone.name); ref.exists() {
				return k.serviceAnswer(ref, name, start, z, qtype)
			}
		}
	}
	if e == nil {
		if k.pods && !zone.reverse && inZone(name, zone.podZone) {
			return k.pod(name, z, qtype)
		}
		return k.negative(z, dns.RcodeNameError)
	}
	if qtype != dns.TypeCNAME {
		if c := e.answer(kCNAME); len(c) > 0 {
			res := result{answer: c}
			if chasedType(qtype) {
				res.chase = c[0].(*dns.CNAME).Target // only ExternalName services have a CNAME
			}
			return res
		}
	}
	if qtype == dns.TypeANY {
		return k.positive(z, e.all(), nil)
	}
	kd, ok := kindOf(qtype)
	if !ok {
		return k.negative(z, dns.RcodeSuccess)
	}
	var extra []dns.RR
	if kd == kSRV {
		extra = e.extra()
	}
	return k.positive(z, e.answer(kd), extra)
}

// positive is an answer, or NODATA when there is none of the type asked.
func (k *KubeSvc) positive(z int, answer, extra []dns.RR) result {
	if len(answer) == 0 {
		return k.negative(z, dns.RcodeSuccess)
	}
	return result{answer: answer, extra: extra}
}

// negative is NXDOMAIN or NODATA, with the zone's SOA in authority.
func (k *KubeSvc) negative(z int, rcode int) result {
	return result{rcode: rcode, ns: k.soa(z)}
}

// apex answers the zone's own name: SOA and NS, NODATA for the rest.
func (k *KubeSvc) apex(z int, qtype uint16) result {
	switch qtype {
	case dns.TypeSOA:
		return result{answer: k.soa(z)}
	case dns.TypeNS:
		zone := k.zones[z]
		var extra []dns.RR
		if e := k.ix.lookup(zone.nsName); e != nil {
			extra = e.all()
		}
		return result{answer: zone.ns, extra: extra}
	case dns.TypeANY:
		return result{answer: append(k.soa(z), k.zones[z].ns...)}
	}
	return k.negative(z, dns.RcodeSuccess)
}

// pod answers <dashed-ip>.<namespace>.pod.<zone> with the address in the
// name ("pods insecure"): no Pod is watched, as with the stock plugin.
func (k *KubeSvc) pod(name []byte, z int, qtype uint16) result {
	rel, ok := relative(string(name), k.zones[z].name)
	labels := strings.Split(rel, ".")
	if !ok || labels[len(labels)-1] != "pod" || len(labels) < 2 || len(labels) > 3 || !k.exposed(labels[len(labels)-2], z) {
		return k.negative(z, dns.RcodeNameError)
	}
	if len(labels) == 2 {
		return k.negative(z, dns.RcodeSuccess) // <namespace>.pod.<zone> is a parent
	}
	ip, ok := podIP(labels[0])
	if !ok {
		return k.negative(z, dns.RcodeNameError)
	}
	owner := string(name)
	hdr := dns.RR_Header{Name: owner, Class: dns.ClassINET, Ttl: k.ttl}
	switch {
	case ip.Is4() && qtype == dns.TypeA:
		hdr.Rrtype = dns.TypeA
		a := ip.As4()
		return result{answer: []dns.RR{&dns.A{Hdr: hdr, A: net.IP(a[:])}}}
	case ip.Is6() && qtype == dns.TypeAAAA:
		hdr.Rrtype = dns.TypeAAAA
		a := ip.As16()
		return result{answer: []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.IP(a[:])}}}
	}
	return k.negative(z, dns.RcodeSuccess)
}

// podIP reads the address from a pod name's first label: 10-0-0-1 or the
// dashed form of an IPv6 address (fd00--1).
func podIP(label string) (netip.Addr, bool) {
	if strings.Count(label, "-") == 3 {
		if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ".")); err == nil && ip.Is4() {
			return ip, true
		}
	}
	if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":")); err == nil && ip.Is6() && !ip.Is4In6() && ip.Zone() == "" {
		return ip, true
	}
	return netip.Addr{}, false
}

// exposed reports whether the namespace's names are served at all in zone
// z.
func (k *KubeSvc) exposed(ns string, z int) bool {
	if k.namespaceLabels {
		return k.ix.lookup(within(ns+".pod", k.zones[z].name)) != nil
	}
	return len(k.namespaces) == 0 || k.namespaces[ns]
}
