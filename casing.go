package kubesvc

import (
	"net"
	"net/netip"
	"sync"
	"unsafe"

	"github.com/miekg/dns"
)

// Answers in the question's case.
//
// The index holds lower-cased records, shared by every query. A resolver
// that randomises the case of its questions (DNS 0x20) wants the names of
// the answer back as it asked, and the stock kubernetes plugin writes them
// so: the owner of every record at the name asked is the name as asked, and
// the names it derives from the zone (the SOA's owner, server and mailbox,
// NS and SRV targets, the owners of additional records) end in the zone as
// asked, their other labels lower-cased. Records owned by other names (an
// ExternalName's target, a completion's) keep their case.
//
// A lower-case question (the common case) changes nothing. For any other,
// the records whose names change are copied, never modified: the copies,
// their sections and the new names are carved from slabs, so a reply
// allocates nothing of its own, as replies do (see newReply).

// casing rewrites one reply's names into the question's case.
type casing struct {
	asked     string // the question's name as asked
	zone      string // the zone, lower-cased
	zoneAsked string // the zone as the question spells it: a suffix of asked
	slabs     *caseSlabs
}

// inQuestionCase rewrites m, the reply to a question for name (lower-cased)
// in zone z, into the question's case.
func (k *KubeSvc) inQuestionCase(m *dns.Msg, name []byte, z int) {
	asked := m.Question[0].Name
	if asked == string(name) || len(asked) != len(name) {
		return
	}
	zone := k.zones[z].name
	c := casing{asked: asked, zone: zone}
	if zone != "." {
		c.zoneAsked = asked[len(asked)-len(zone):]
	}
	c.slabs = caseCursors.Get().(*caseSlabs)
	m.Answer = c.section(m.Answer, false)
	m.Ns = c.section(m.Ns, true)
	m.Extra = c.section(m.Extra, true)
	caseCursors.Put(c.slabs)
}

// section returns rrs in the question's case: rrs itself if no name
// changes. Every record of the authority and additional sections is one
// kubesvc derived from its zone.
func (c *casing) section(rrs []dns.RR, derived bool) []dns.RR {
	var out []dns.RR
	for i, rr := range rrs {
		cp := c.record(rr, derived)
		if cp == nil {
			continue
		}
		if out == nil {
			out = c.slabs.rrs(len(rrs))
			copy(out, rrs)
		}
		out[i] = cp
	}
	if out == nil {
		return rrs
	}
	return out
}

// record returns a copy of rr in the question's case, or nil if none of its
// names change.
func (c *casing) record(rr dns.RR, derived bool) dns.RR {
	h := rr.Header()
	owner := h.Name
	switch {
	case !derived && isAsked(owner, c.asked):
		owner = c.asked
	case derived || h.Rrtype == dns.TypeSOA || h.Rrtype == dns.TypeNS:
		owner = c.name(owner)
	}
	switch v := rr.(type) {
	case *dns.SRV:
		target := c.name(v.Target)
		if owner == h.Name && target == v.Target {
			return nil
		}
		cp := carve(&c.slabs.srv)
		*cp = *v
		cp.Hdr.Name, cp.Target = owner, target
		return cp
	case *dns.SOA:
		ns, mbox := c.name(v.Ns), c.name(v.Mbox)
		if owner == h.Name && ns == v.Ns && mbox == v.Mbox {
			return nil
		}
		cp := carve(&c.slabs.soa)
		*cp = *v
		cp.Hdr.Name, cp.Ns, cp.Mbox = owner, ns, mbox
		return cp
	case *dns.NS:
		target := c.name(v.Ns)
		if owner == h.Name && target == v.Ns {
			return nil
		}
		cp := carve(&c.slabs.ns)
		*cp = *v
		cp.Hdr.Name, cp.Ns = owner, target
		return cp
	}
	if owner == h.Name {
		return nil
	}
	cp := c.slabs.copy(rr)
	cp.Header().Name = owner
	return cp
}

// name returns a lower-cased name of the zone with the zone as asked: the
// question's own bytes for the zone itself, a carved string otherwise.
// Names outside the zone are returned as they are. The question's name too
// is derived so (an SRV at a service's name targets that name), as stock
// spells it.
func (c *casing) name(n string) string {
	if c.zoneAsked == "" || c.zoneAsked == c.zone || !hasZone(n, c.zone) {
		return n
	}
	rel := n[:len(n)-len(c.zone)]
	if rel == "" {
		return c.zoneAsked
	}
	return c.slabs.join(rel, c.zoneAsked)
}

// isAsked reports whether name is the question's name asked (in any case).
// Unlike comparing with the lower-cased name, this keeps that name, which
// lives on ServeDNS's stack, from escaping to the heap with the casing.
func isAsked(name, asked string) bool {
	if len(name) != len(asked) {
		return false
	}
	for i := 0; i < len(name); i++ {
		a, b := name[i], asked[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// hasZone is inZone for a string name.
func hasZone(name, zone string) bool {
	n := len(name) - len(zone)
	return n >= 0 && name[n:] == zone && (n == 0 || name[n-1] == '.')
}

// Slab sizes: records and sections come 64 at a time, names' bytes 4 KiB.
const (
	caseSlab     = 64
	caseRRSlab   = 256
	caseTextSlab = 4096
)

// caseSlabs are the free tails of the current slabs. The records kubesvc
// answers with have their own; any other kind is copied with dns.Copy.
type caseSlabs struct {
	sections []dns.RR
	text     []byte
	a        []dns.A
	aaaa     []dns.AAAA
	srv      []dns.SRV
	soa      []dns.SOA
	ns       []dns.NS
	cname    []dns.CNAME
	ptr      []dns.PTR
	txt      []dns.TXT
}

var caseCursors = sync.Pool{New: func() any { return &caseSlabs{} }}

// carve hands out the next element of a slab, starting a new slab when it
// is used up. An element is never handed out twice.
func carve[T any](free *[]T) *T {
	if len(*free) == 0 {
		*free = make([]T, caseSlab)
	}
	p := &(*free)[0]
	*free = (*free)[1:]
	return p
}

// rrs carves a section of n records, its capacity capped so that appending
// to it cannot reach the next one.
func (s *caseSlabs) rrs(n int) []dns.RR {
	if n > len(s.sections) {
		if n > caseRRSlab/4 {
			return make([]dns.RR, n)
		}
		s.sections = make([]dns.RR, caseRRSlab)
	}
	out := s.sections[:n:n]
	s.sections = s.sections[n:]
	return out
}

// join carves the string rel+zone. Its bytes are never written again, which
// is what makes them safe to view as a string.
func (s *caseSlabs) join(rel, zone string) string {
	n := len(rel) + len(zone)
	if n > cap(s.text)-len(s.text) {
		if n > caseTextSlab/4 {
			return rel + zone
		}
		s.text = make([]byte, 0, caseTextSlab)
	}
	start := len(s.text)
	s.text = append(append(s.text, rel...), zone...)
	return unsafe.String(&s.text[start], n)
}

// copy copies a record whose owner changes.
func (s *caseSlabs) copy(rr dns.RR) dns.RR {
	switch v := rr.(type) {
	case *dns.A:
		cp := carve(&s.a)
		*cp = *v
		return cp
	case *dns.AAAA:
		cp := carve(&s.aaaa)
		*cp = *v
		return cp
	case *dns.CNAME:
		cp := carve(&s.cname)
		*cp = *v
		return cp
	case *dns.PTR:
		cp := carve(&s.ptr)
		*cp = *v
		return cp
	case *dns.TXT:
		cp := carve(&s.txt)
		*cp = *v
		return cp
	}
	return dns.Copy(rr)
}

// str carves a string of b's bytes.
func (s *caseSlabs) str(b []byte) string {
	raw := s.raw(b)
	if len(raw) == 0 {
		return ""
	}
	return unsafe.String(&raw[0], len(raw))
}

// room makes room for n more bytes in the text slab, starting a new slab
// if need be; false if n is too long for one (the caller allocates).
func (s *caseSlabs) room(n int) bool {
	if n > caseTextSlab/4 {
		return false
	}
	if n > cap(s.text)-len(s.text) {
		s.text = make([]byte, 0, caseTextSlab)
	}
	return true
}

// join3 carves the string a+b+c.
func (s *caseSlabs) join3(a, b, c string) string {
	n := len(a) + len(b) + len(c)
	if !s.room(n) {
		return a + b + c
	}
	start := len(s.text)
	s.text = append(append(append(s.text, a...), b...), c...)
	return unsafe.String(&s.text[start], n)
}

// dashedJoin carves "<ip dashed>.<a><b><c>": a name below a member that
// goes by its dashed address, such as its PTR target (rel, ".svc.", zone)
// or its name in its service (base).
func (s *caseSlabs) dashedJoin(ip netip.Addr, a, b, c string) string {
	if !s.room(maxDashed + 1 + len(a) + len(b) + len(c)) {
		return dashed(ip) + "." + a + b + c
	}
	start := len(s.text)
	s.text = append(append(append(append(appendDashed(s.text, ip), '.'), a...), b...), c...)
	return unsafe.String(&s.text[start], len(s.text)-start)
}

// memberName carves the name of member m of the headless service named
// base: "<label>.<base>".
func (s *caseSlabs) memberName(m *hsMember, base string) string {
	if m.dashed {
		return s.dashedJoin(m.ip(), base, "", "")
	}
	return s.join3(m.label(), ".", base)
}

// raw carves a copy of b, its capacity capped so that appending to it
// cannot reach what follows.
func (s *caseSlabs) raw(b []byte) []byte {
	if !s.room(len(b)) {
		return append([]byte(nil), b...)
	}
	start := len(s.text)
	s.text = append(s.text, b...)
	return s.text[start:len(s.text):len(s.text)]
}

// addr carves the A or AAAA record of ip at owner.
func (s *caseSlabs) addr(owner string, ip netip.Addr, ttl uint32) dns.RR {
	hdr := dns.RR_Header{Name: owner, Class: dns.ClassINET, Ttl: ttl}
	if ip.Is4() {
		rr := carve(&s.a)
		hdr.Rrtype = dns.TypeA
		v := ip.As4()
		rr.Hdr, rr.A = hdr, net.IP(s.raw(v[:]))
		return rr
	}
	rr := carve(&s.aaaa)
	hdr.Rrtype = dns.TypeAAAA
	v := ip.As16()
	rr.Hdr, rr.AAAA = hdr, net.IP(s.raw(v[:]))
	return rr
}

// srvRR carves an SRV record.
func (s *caseSlabs) srvRR(owner, target string, port, weight uint16, ttl uint32) dns.RR {
	rr := carve(&s.srv)
	rr.Hdr = dns.RR_Header{Name: owner, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl}
	rr.Priority, rr.Weight, rr.Port, rr.Target = 0, weight, port, target
	return rr
}
