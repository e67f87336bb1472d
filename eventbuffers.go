package kubesvc

import (
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// The memory of EndpointSlice and Service watch events' objects, recycled.
// Every readiness flip resends its whole slice (about 10 KB for 100
// endpoints); client-go copies each event's object out of the stream's
// frame, as the stream reads the next frame into the same memory while the
// reflector still reads this one, and that copy was nearly half of what
// kubesvc allocates a flip (and a third of what it allocates a Service
// created). watchEvents lends the object a buffer instead. The sparse
// decoder hands it to the wireSlice it decodes from it, and the slice
// transform gives it back once it has read the slice, as nothing it keeps
// points into the message (TestTransformsKeepNothingOfTheMessage); a
// Service's decoding copies what it keeps, and the decoder gives the buffer
// back at once (TestServiceOfALentBufferOutlivesIt).
//
// The path a buffer takes is client-go's watch decoder's (rest/watch):
// every event of a valid type has its object decoded by the embedded
// decoder right after the frame. Should a buffer be lent and not taken,
// lentBuffers stays bounded: past maxLent nothing more is lent, and the
// objects are copied as client-go copies them.
var (
	eventBuffers sync.Pool // of *[]byte
	lentMu       sync.Mutex
	lentBuffers  = make(map[*byte]*[]byte, maxLent) // the first byte of a lent buffer -> the buffer, under lentMu
	lent         atomic.Int32                       // len(lentBuffers)
)

// maxLent is how many buffers may be out between watchEvents and the sparse
// decoder: one per watch is ever between the two.
const maxLent = 256

// The kinds whose watch events' objects get a lent buffer.
var (
	sliceKind   = discovery.SchemeGroupVersion.WithKind("EndpointSlice")
	serviceKind = corev1.SchemeGroupVersion.WithKind("Service")
)

// lendable says whether a watch event's object of apiVersion and kind (as
// envelopeFields reads them) gets a lent buffer: an EndpointSlice or a
// Service.
func lendable(apiVersion, kind string) bool {
	gv, ok := knownGroupVersions[apiVersion]
	gvk := gv.WithKind(kind)
	return ok && (gvk == sliceKind || gvk == serviceKind)
}

// objectCopy is a copy of a watch event's object: in a lent buffer if the
// object is an EndpointSlice or a Service, else in memory of its own.
func objectCopy(raw []byte) []byte {
	if len(raw) == 0 || lent.Load() >= maxLent {
		return append([]byte{}, raw...)
	}
	if apiVersion, kind, _, ok := envelopeFields(raw); !ok || !lendable(apiVersion, kind) {
		return append([]byte{}, raw...)
	}
	p, _ := eventBuffers.Get().(*[]byte)
	if p == nil {
		p = new([]byte)
	}
	*p = append((*p)[:0], raw...)
	lentMu.Lock()
	lentBuffers[&(*p)[0]] = p
	lent.Add(1)
	lentMu.Unlock()
	return *p
}

// borrowed is the lent buffer data is, taken from lentBuffers; nil if data
// is not one (a list's body, a test's bytes).
func borrowed(data []byte) *[]byte {
	if len(data) == 0 || lent.Load() == 0 {
		return nil
	}
	lentMu.Lock()
	defer lentMu.Unlock()
	p, ok := lentBuffers[&data[0]]
	if ok {
		delete(lentBuffers, &data[0])
		lent.Add(-1)
	}
	return p
}

// release gives back the buffer s was decoded from, if it was lent one:
// s's message is gone from then on.
func (s *wireSlice) release() {
	if s.buffer == nil {
		return
	}
	p := s.buffer
	s.buffer, s.msg = nil, nil
	eventBuffers.Put(p)
}
