package kubesvc

import (
	"bytes"
	"cmp"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Reverse names (spec 2.3.3 and 2.4.2): a service's cluster IPs, and the
// endpoint addresses of headless services, have PTR records pointing at
// the service's or the endpoint's name in the first forward zone. The
// index keeps by address the names they point at (see repoint); the
// records are built for each question.

const (
	inAddrArpa = ".in-addr.arpa."
	ip6Arpa    = ".ip6.arpa."
)

// reverseIP reads the address a lower-cased reverse name stands for:
// d.c.b.a.in-addr.arpa. or the 32 nibbles of an ip6.arpa. name. Any other
// name (a parent of reverse names, say) is false.
func reverseIP(name []byte) (netip.Addr, bool) {
	switch {
	case bytes.HasSuffix(name, []byte(inAddrArpa)):
		return reverse4(name[:len(name)-len(inAddrArpa)])
	case bytes.HasSuffix(name, []byte(ip6Arpa)):
		return reverse6(name[:len(name)-len(ip6Arpa)])
	}
	return netip.Addr{}, false
}

// reverse4 reads "d.c.b.a": four decimal octets without leading zeros.
func reverse4(labels []byte) (netip.Addr, bool) {
	var ip [4]byte
	for i := 3; i >= 0; i-- {
		label, rest := labels, []byte(nil)
		if dot := bytes.IndexByte(labels, '.'); dot >= 0 {
			label, rest = labels[:dot], labels[dot+1:]
		}
		if (rest == nil) != (i == 0) { // fewer or more than four labels
			return netip.Addr{}, false
		}
		n, ok := octet(label)
		if !ok {
			return netip.Addr{}, false
		}
		ip[i], labels = n, rest
	}
	return netip.AddrFrom4(ip), true
}

// octet reads a decimal number of 0 to 255 without leading zeros.
func octet(label []byte) (byte, bool) {
	if len(label) == 0 || len(label) > 3 || len(label) > 1 && label[0] == '0' {
		return 0, false
	}
	n := 0
	for _, c := range label {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return byte(n), n <= 255
}

// reverse6 reads 32 hexadecimal nibbles, the least significant first.
func reverse6(labels []byte) (netip.Addr, bool) {
	if len(labels) != 63 {
		return netip.Addr{}, false
	}
	var ip [16]byte
	for i := 0; i < 32; i++ {
		c := labels[2*i]
		if i < 31 && labels[2*i+1] != '.' {
			return netip.Addr{}, false
		}
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		default:
			return netip.Addr{}, false
		}
		nibble := 31 - i // the first label is the last nibble
		ip[nibble/2] |= v << (4 * (1 - nibble%2))
	}
	return netip.AddrFrom16(ip), true
}

// ptrAnswer answers qtype at name (lower-cased), the reverse name of ip.
func (k *KubeSvc) ptrAnswer(name []byte, ip netip.Addr, z int, qtype uint16) result {
	rels := k.ix.targets(ip)
	if rels == "" {
		return k.negative(z, dns.RcodeNameError)
	}
	if qtype != dns.TypePTR && qtype != dns.TypeANY {
		return k.negative(z, dns.RcodeSuccess)
	}
	slabs := caseCursors.Get().(*caseSlabs)
	defer caseCursors.Put(slabs)
	// An IPv4 address asked as its mapped IPv6 form (an ip6.arpa name)
	// has the IPv4 address's names: a dashed one is written from it.
	return result{answer: ptrRecords(slabs, slabs.str(name), ip.Unmap(), rels, k.ptrZone, k.ttl)}
}

// ptrRecords are the PTR records at owner pointing at each of rels (see
// targets) in zone; a rel ending in a dot is a ServiceImport's name in a
// multicluster zone, as it is. Of a cluster-local target and a clusterset
// one for the same address, the multicluster specification keeps the
// cluster-local one (its 2.3.3 and 2.4.3): the clusterset ones are left out
// while a cluster-local one is there.
func ptrRecords(slabs *caseSlabs, owner string, ip netip.Addr, rels string, zone string, ttl uint32) []dns.RR {
	n := strings.Count(rels, " ") + 1
	local := n // the cluster-local targets
	clusterset := strings.HasSuffix(rels, ".") || strings.Contains(rels, ". ")
	if clusterset {
		local = 0
		for rel := range strings.SplitSeq(rels, " ") {
			if !strings.HasSuffix(rel, ".") {
				local++
			}
		}
	}
	out := slabs.rrs(n)[:0]
	for rels != "" {
		var rel string
		rel, rels, _ = strings.Cut(rels, " ")
		absolute := clusterset && strings.HasSuffix(rel, ".")
		if absolute && local > 0 {
			continue
		}
		rr := carve(&slabs.ptr)
		rr.Hdr = dns.RR_Header{Name: owner, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}
		switch {
		case absolute:
			rr.Ptr = rel
		case strings.HasPrefix(rel, "/"): // a member going by its dashed address
			rr.Ptr = slabs.dashedJoin(ip, rel[1:], ".svc.", zone)
		default:
			rr.Ptr = slabs.join3(rel, ".svc.", zone)
		}
		out = append(out, rr)
	}
	return out
}

// hsRefDiff are the PTR references of the service key ("<service>.<namespace>")
// that old has and now has not, and those now has and old has not; only
// those whose names fit in zone, the first forward zone, which PTR records
// point into. Both member lists are sorted alike, so one pass
// finds them: a flip in a service of a thousand endpoints makes the reverse
// names of the one address that changed, not of all of them.
func hsRefDiff(old, now *hsRecord, key, zone string) (gone, came []ptrRef) {
	var a, b []hsMember
	switch {
	case old != nil && now != nil:
		a, b = differing(&old.members, &now.members)
	case old != nil:
		a = old.members.flat()
	case now != nil:
		b = now.members.flat()
	}
	// A patched record shares all but a few members with the old one:
	// the same members at both ends have the same references.
	same := func(x, y *hsMember) bool {
		return x.at == y.at && x.label() == y.label() && x.dashed == y.dashed && x.ptr == y.ptr
	}
	for len(a) > 0 && len(b) > 0 && same(&a[0], &b[0]) {
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && same(&a[len(a)-1], &b[len(b)-1]) {
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	base := within(key+".svc", zone)
	// A member going by its dashed address refers to it as "/<key>" (see
	// targets): one string for them all, where each had a name.
	var slashKey string
	ref := func(m hsMember) ptrRef {
		if m.dashed {
			if slashKey == "" {
				slashKey = "/" + key
			}
			return ptrRef{m.ip(), slashKey}
		}
		return ptrRef{m.ip(), m.label() + "." + key}
	}
	fits := func(m hsMember) bool { return m.ptr && m.labelFits(maxName-1-len(base)) }
	for len(a) > 0 || len(b) > 0 {
		c := 0
		switch {
		case len(a) == 0:
			c = 1
		case len(b) == 0:
			c = -1
		default:
			c = cmp.Or(a[0].ip().Compare(b[0].ip()), compareLabels(&a[0], &b[0]))
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
		default: // the same address and label
			switch fa, fb := fits(a[0]), fits(b[0]); {
			case fa && fb && a[0].dashed != b[0].dashed:
				// A hostname that reads as the dashed address: the same
				// name, referred to by another string, which must go.
				gone, came = append(gone, ref(a[0])), append(came, ref(b[0]))
			case fa && !fb:
				gone = append(gone, ref(a[0]))
			case fb && !fa:
				came = append(came, ref(b[0]))
			}
			a, b = a[1:], b[1:]
		}
	}
	return gone, came
}
