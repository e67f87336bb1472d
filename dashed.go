package kubesvc

import (
	"bytes"
	"net/netip"
	"strings"
)

// Dashed labels: the name an endpoint without a hostname goes by (spec
// 2.4.1), made from its address, and read back from a question.

// dashed is the name an endpoint without a hostname goes by: its address
// with '.' or ':' replaced by '-'. An IPv6 address whose compressed form
// starts or ends with "::" gets a 0 there (fd00:: is fd00--0, ::1 is 0--1):
// a label cannot start or end with '-', and the form still reads back as
// the same address (pods insecure parses it). Stock adds the trailing 0 but
// not the leading one.
func dashed(ip netip.Addr) string { return string(appendDashed(nil, ip)) }

// appendDashed appends dashed(ip) to dst: the address as netip writes it,
// with '-' for its separators ('.' of IPv4, ':' of IPv6), and a '0' before
// a leading or after a trailing '-' ("::1" reads "0--1"), as a label may
// neither start nor end with one.
func appendDashed(dst []byte, ip netip.Addr) []byte {
	start := len(dst)
	dst = ip.WithZone("").AppendTo(dst)
	if len(dst) == start {
		return dst // the zero Addr: no endpoint has it
	}
	sep := byte(':')
	if ip.Is4() {
		sep = '.'
	}
	for i := start; i < len(dst); i++ {
		if dst[i] == sep {
			dst[i] = '-'
		}
	}
	if dst[start] == '-' {
		dst = append(dst, 0)
		copy(dst[start+1:], dst[start:])
		dst[start] = '0'
	}
	if dst[len(dst)-1] == '-' {
		dst = append(dst, '0')
	}
	return dst
}

// mayBeDashed reports whether a label could be an address dashed: only
// digits, hexadecimal letters and '-'.
func mayBeDashed(label string) bool {
	for i := 0; i < len(label); i++ {
		if c := label[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || c == '-') {
			return false
		}
	}
	return true
}

// dashedIP reads the address a dashed label stands for (see dashed); an
// IPv4 one without allocating.
func dashedIP(label []byte) (netip.Addr, bool) {
	var v4 [4]byte
	part, n := 0, 0
	for i, c := range label {
		switch {
		case '0' <= c && c <= '9' && n < 3 && !(n > 0 && label[i-n] == '0'):
			n++
			x := int(v4[part])*10 + int(c-'0')
			if x > 255 {
				return v6Dashed(label)
			}
			v4[part] = byte(x)
		case c == '-' && n > 0 && part < 3:
			part, n = part+1, 0
		default:
			return v6Dashed(label)
		}
	}
	if part != 3 || n == 0 {
		return v6Dashed(label)
	}
	return netip.AddrFrom4(v4), true
}

// v6Dashed reads an IPv6 address dashed; rare enough to allocate.
func v6Dashed(label []byte) (netip.Addr, bool) {
	if !mayBeDashed(string(label)) {
		return netip.Addr{}, false
	}
	ip, ok := podIP(string(label))
	return ip, ok && ip.Is6()
}

// A headless member's label (hsMember.label), its dashed address when it
// goes by that: written when asked, not kept.

// appendLabel appends the label the member goes by to dst.
func (m *hsMember) appendLabel(dst []byte) []byte {
	if m.dashed {
		return appendDashed(dst, m.ip())
	}
	return append(dst, m.label()...)
}

// labelLen is the length of the member's label.
func (m *hsMember) labelLen() int {
	if !m.dashed {
		return len(m.label())
	}
	var b [maxDashed]byte
	return len(appendDashed(b[:0], m.ip()))
}

// labelFits reports whether the member's label is at most max long,
// without writing a dashed one out where any would fit.
func (m *hsMember) labelFits(max int) bool {
	if m.dashed && max >= maxDashed {
		return true
	}
	return m.labelLen() <= max
}

// sameLabel reports whether two members go by the same label; two dashed
// ones do if they have the same address (a dashed label reads back as it).
func sameLabel(x, y *hsMember) bool {
	switch {
	case x.dashed && y.dashed:
		return x.at == y.at
	case !x.dashed && !y.dashed:
		return x.label() == y.label()
	}
	return compareLabels(x, y) == 0
}

// hasLabel reports whether the member has a name of its own.
func (m *hsMember) hasLabel() bool { return m.dashed || m.label() != "" }

// maxDashed is the longest dashed address: IPv6's 39 characters and a 0
// at each end.
const maxDashed = 41

// compareLabels orders members by label, as strings.Compare orders labels.
func compareLabels(x, y *hsMember) int {
	if !x.dashed && !y.dashed {
		return strings.Compare(x.label(), y.label())
	}
	var bx, by [maxDashed]byte
	return bytes.Compare(x.appendLabel(bx[:0]), y.appendLabel(by[:0]))
}

// compareLabelTo orders the member's label against label.
func (m *hsMember) compareLabelTo(label []byte) int {
	if !m.dashed { // compared in place: string(label) is not made
		switch {
		case m.label() < string(label):
			return -1
		case m.label() > string(label):
			return 1
		}
		return 0
	}
	var b [maxDashed]byte
	return bytes.Compare(m.appendLabel(b[:0]), label)
}
