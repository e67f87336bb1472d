package kubesvc

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"unsafe"
)

// memberList is a headless record's members, sorted by address, then label,
// in chunks. A record patched after a slice change shares every chunk the
// change did not touch with the record before it: a readiness flip in a
// service of a thousand endpoints copies the sixty-odd members of one chunk,
// not a thousand (about 4 KB, not 72), and the garbage collector has that
// much less to clear and to scan. An address's members are never split
// between two chunks, so an address is edited in one. A list is immutable
// once published: queries read it without locks.
type memberList struct {
	chunks [][]hsMember // none empty
	starts []int32      // the index of each chunk's first member
	sums   []chunkSum   // each chunk's, made with it and shared as it is
	n      int
}

// chunkSum is what a headless record counts of a chunk's members
// (newHeadless): made once, when the chunk is cut, so that a change counts
// the chunks it touched rather than every member again.
type chunkSum struct {
	addrs    int32 // distinct addresses
	dashed   int32 // members labelled with their dashed address
	labelled int32 // members labelled otherwise
	// mayBeDashed: a member labelled otherwise has a label a dashed
	// address could have (see hsRecord.allByLabel).
	mayBeDashed bool
	// ports are the port lists of the labelled members, a list once
	// where members next to each other have equal ones (mostly one list:
	// their slice's).
	ports [][]port
}

// sumOf counts c's members.
func sumOf(c []hsMember) chunkSum {
	var s chunkSum
	for i := range c {
		m := &c[i]
		if i == 0 || m.at != c[i-1].at {
			s.addrs++
		}
		switch {
		case m.dashed:
			s.dashed++
		case m.label() == "":
			continue
		default:
			s.labelled++
			s.mayBeDashed = s.mayBeDashed || mayBeDashed(m.label())
		}
		if m.nPorts == 0 {
			continue // no ports to count, and no empty list in ports to compare with
		}
		if n := len(s.ports); n > 0 && (m.portList == &s.ports[n-1][0] || slices.Equal(m.ports(), s.ports[n-1])) {
			continue
		}
		s.ports = append(s.ports, m.ports())
	}
	return s
}

// chunkSize is the members a chunk is cut after (at the next address); an
// edited chunk is cut again only past twice as many.
const chunkSize = 64

// newMemberList chunks ms, sorted, without copying it.
func newMemberList(ms []hsMember) memberList {
	var l memberList
	l.chunks = make([][]hsMember, 0, len(ms)/chunkSize+1)
	l.starts = make([]int32, 0, len(ms)/chunkSize+1)
	l.sums = make([]chunkSum, 0, len(ms)/chunkSize+1)
	l.addCut(ms, chunkSize)
	return l
}

// addCut appends ms, in chunks of at least size members (those of its last
// address excepted), and no more than size unless an address's members go on.
func (l *memberList) addCut(ms []hsMember, size int) {
	for len(ms) > 0 {
		cut := min(chunkSize, len(ms))
		if len(ms) <= size {
			cut = len(ms)
		}
		for cut < len(ms) && ms[cut].at == ms[cut-1].at {
			cut++
		}
		l.add(ms[:cut:cut], sumOf(ms[:cut]))
		ms = ms[cut:]
	}
}

// add appends chunk c, whose sum is s.
func (l *memberList) add(c []hsMember, s chunkSum) {
	l.starts = append(l.starts, int32(l.n))
	l.chunks = append(l.chunks, c)
	l.sums = append(l.sums, s)
	l.n += len(c)
}

// Len is the number of members.
func (l *memberList) Len() int { return l.n }

// At is member i, 0 <= i < Len.
func (l *memberList) At(i int) *hsMember {
	k := l.chunkOf(i)
	return &l.chunks[k][i-int(l.starts[k])]
}

// chunkOf is the chunk holding member i: the last one starting at or before it.
func (l *memberList) chunkOf(i int) int {
	lo, hi := 0, len(l.starts)
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if int(l.starts[mid]) <= i {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// search is the index of the first member whose address is not below ip,
// Len if there is none.
func (l *memberList) search(ip netip.Addr) int {
	k, _ := slices.BinarySearchFunc(l.chunks, ip, func(c []hsMember, ip netip.Addr) int { return c[len(c)-1].ip().Compare(ip) })
	if k == len(l.chunks) {
		return l.n
	}
	j, _ := slices.BinarySearchFunc(l.chunks[k], ip, func(m hsMember, ip netip.Addr) int { return m.ip().Compare(ip) })
	return int(l.starts[k]) + j
}

// any reports whether f holds for some member.
func (l *memberList) any(f func(hsMember) bool) bool {
	for _, c := range l.chunks {
		if slices.ContainsFunc(c, f) {
			return true
		}
	}
	return false
}

// flat is every member in one slice: the list's own chunk if it has one.
func (l *memberList) flat() []hsMember {
	if len(l.chunks) == 1 {
		return l.chunks[0]
	}
	return slices.Concat(l.chunks...)
}

// memberEdit is an address's members after a change, sorted by label; none
// if the address no longer answers for the service.
type memberEdit struct {
	ip      netip.Addr
	members []hsMember
}

// patched is l with the members of each edit's address replaced by the
// edit's (edits sorted by address). The chunks no edit falls in are l's
// own; an edit falls in the chunk whose addresses span its address (the
// first one for addresses below all, the last for those above).
func (l *memberList) patched(edits []memberEdit) memberList {
	if len(l.chunks) == 0 {
		return newMemberList(mergeEdits(nil, edits))
	}
	n := len(l.chunks) + 1
	out := memberList{chunks: make([][]hsMember, 0, n), starts: make([]int32, 0, n), sums: make([]chunkSum, 0, n)}
	e := 0
	for k, c := range l.chunks {
		end := len(edits)
		if k+1 < len(l.chunks) {
			next := l.chunks[k+1][0].ip()
			for end = e; end < len(edits) && edits[end].ip.Less(next); end++ {
			}
		}
		if end == e {
			out.add(c, l.sums[k])
			continue
		}
		out.addCut(mergeEdits(c, edits[e:end]), 2*chunkSize)
		e = end
	}
	// Edits can leave many small chunks behind; past twice as many as the
	// members need, the list is chunked afresh.
	if len(out.chunks) > 2*(out.n/chunkSize+1) {
		return newMemberList(out.flat())
	}
	return out
}

// mergeEdits is c with each edit's address's members replaced by the
// edit's; c and edits are sorted by address.
func mergeEdits(c []hsMember, edits []memberEdit) []hsMember {
	n := len(c)
	for _, e := range edits {
		n += len(e.members)
	}
	out := make([]hsMember, 0, n)
	for _, e := range edits {
		i := 0
		for i < len(c) && c[i].ip().Less(e.ip) {
			i++
		}
		out = append(out, c[:i]...)
		for i < len(c) && c[i].ip() == e.ip {
			i++
		}
		out = append(out, e.members...)
		c = c[i:]
	}
	return append(out, c...)
}

// differing are the members of a and of b but for the chunks both share at
// either end, whose members are the same at the same places.
func differing(a, b *memberList) ([]hsMember, []hsMember) {
	ca, cb := a.chunks, b.chunks
	for len(ca) > 0 && len(cb) > 0 && sameChunk(ca[0], cb[0]) {
		ca, cb = ca[1:], cb[1:]
	}
	for len(ca) > 0 && len(cb) > 0 && sameChunk(ca[len(ca)-1], cb[len(cb)-1]) {
		ca, cb = ca[:len(ca)-1], cb[:len(cb)-1]
	}
	return (&memberList{chunks: ca}).flat(), (&memberList{chunks: cb}).flat()
}

func sameChunk(x, y []hsMember) bool { return len(x) == len(y) && &x[0] == &y[0] }

// sameMembers reports whether a and b hold members that answer alike, in
// the same order; the chunks they share are not compared again.
func sameMembers(a, b *memberList) bool {
	if a.n != b.n {
		return false
	}
	var x, y []hsMember // what is left of the current chunks
	ka, kb := 0, 0
	for i := 0; i < a.n; {
		if len(x) == 0 {
			x, ka = a.chunks[ka], ka+1
		}
		if len(y) == 0 {
			y, kb = b.chunks[kb], kb+1
		}
		if len(x) == len(y) && &x[0] == &y[0] {
			i += len(x)
			x, y = nil, nil
			continue
		}
		if !sameMember(&x[0], &y[0]) {
			return false
		}
		x, y, i = x[1:], y[1:], i+1
	}
	return true
}

func sameMember(x, y *hsMember) bool {
	return x.at == y.at && x.label() == y.label() && x.ptr == y.ptr && x.dashed == y.dashed && x.zone == y.zone && slices.Equal(x.ports(), y.ports())
}

// sortByLabel sorts by, indexes of members, by label, then address, and
// counts the distinct labels. With dashed members among them (allByLabel),
// their labels are written once each, into one buffer, rather than at every
// comparison: else a flip in a big service with one hostname that reads as
// an address took three to nine times as long.
func sortByLabel(ms *memberList, by []int32, dashed bool) int {
	if !dashed {
		slices.SortFunc(by, func(a, b int32) int {
			x, y := ms.At(int(a)), ms.At(int(b))
			return cmp.Or(strings.Compare(x.label(), y.label()), x.ip().Compare(y.ip()))
		})
		labels := 0
		for i, m := range by {
			if i == 0 || ms.At(int(m)).label() != ms.At(int(by[i-1])).label() {
				labels++
			}
		}
		return labels
	}
	type labelled struct {
		label string
		i     int32
	}
	ls := make([]labelled, len(by))
	text := make([]byte, 0, 16*len(by)) // most are IPv4 addresses dashed
	ends := make([]int, len(by))
	for k, i := range by {
		text = ms.At(int(i)).appendLabel(text)
		ends[k] = len(text)
	}
	for k, i := range by { // text is whole now: the labels can point into it
		start := 0
		if k > 0 {
			start = ends[k-1]
		}
		ls[k] = labelled{unsafe.String(unsafe.SliceData(text[start:]), ends[k]-start), i}
	}
	slices.SortFunc(ls, func(a, b labelled) int {
		return cmp.Or(strings.Compare(a.label, b.label), ms.At(int(a.i)).ip().Compare(ms.At(int(b.i)).ip()))
	})
	labels := 0
	for k := range ls {
		by[k] = ls[k].i
		if k == 0 || ls[k].label != ls[k-1].label {
			labels++
		}
	}
	return labels
}
