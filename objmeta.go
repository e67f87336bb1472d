package kubesvc

import (
	"strconv"
	"strings"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// objMeta is the identity of a stored object. It satisfies what the
// informer's store needs (runtime.Object and meta.Accessor through
// GetObjectMeta) without carrying a whole ObjectMeta per object.
//
// It is 16 bytes: the address of its key's bytes (key) and one word,
// packed, that holds the key's length and form, where its namespace is and
// its resource version (rv). A string header and a word took 24, which put
// a service past the 32-byte size class (issue 13).
type objMeta struct {
	k      *byte
	packed uint64
}

// packed holds, from its low bits: len(namespace)+1 in nsBits bits, or 0
// for unknown (a namespace longer than the API allows, or one not
// separated by "/"), which nsLen then finds; the key's length in lenBits
// bits; the dotted bit (see newServiceMeta); the resource version in the
// rest (rvBits). A key too long for lenBits (longLen, none the API allows:
// its names are at most 253 bytes) keeps its length where the version
// would be, and no version (rv 0: its updates are never taken for replays).
const (
	nsBits  = 8
	lenBits = 15
	rvShift = nsBits + lenBits + 1
	rvBits  = 64 - rvShift
	longLen = 1<<lenBits - 1
	dotted  = 1 << (nsBits + lenBits)
)

// keyMeta is an objMeta of key, "namespace/name", with resource version rv
// (0: none) that must fit (parseRV).
func keyMeta(key string, rv uint64) objMeta {
	var ns uint64
	if i := strings.IndexByte(key, '/'); i >= 0 && i < 1<<nsBits-1 {
		ns = uint64(i) + 1
	}
	return packedMeta(key, ns, rv)
}

// packedMeta is an objMeta of key, with ns (nsBits) and rv packed.
func packedMeta(key string, ns, rv uint64) objMeta {
	n := uint64(len(key))
	if n >= longLen {
		rv, n = n, longLen
	}
	return objMeta{k: unsafe.StringData(key), packed: rv<<rvShift | n<<nsBits | ns}
}

func newObjMeta(m *metav1.ObjectMeta) objMeta {
	return keyMeta(m.Namespace+"/"+m.Name, parseRV(m.ResourceVersion))
}

// key is the object's key in its informer's store: "namespace/name"; a
// service's "<service>.<namespace>" if it is dotted (newServiceMeta).
func (m *objMeta) key() string {
	n := int(m.packed >> nsBits & longLen)
	if n == longLen {
		n = int(m.packed >> rvShift)
	}
	return unsafe.String(m.k, n)
}

// isDotted reports whether key is "<service>.<namespace>".
func (m *objMeta) isDotted() bool { return m.packed&dotted != 0 }

// rv is the resource version as a number: an API server's are decimal
// numbers (etcd's revisions). 0: none, or one of another form (the API
// calls them opaque), whose updates are then never taken for replays.
func (m *objMeta) rv() uint64 {
	if m.packed>>nsBits&longLen == longLen {
		return 0
	}
	return m.packed >> rvShift
}

// setRV sets the resource version, which must fit (parseRV); a key too
// long for lenBits keeps none.
func (m *objMeta) setRV(rv uint64) {
	if m.packed>>nsBits&longLen != longLen {
		m.packed = rv<<rvShift | m.packed&(1<<rvShift-1)
	}
}

// parseRV is a resource version as a number, if it is one written as
// FormatUint writes it (so that GetObjectMeta gives it back as it came)
// and it fits in rvBits bits (below 2^40: an etcd taking a thousand writes
// a second gets there in 34 years); 0 otherwise.
func parseRV(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s || n >= 1<<rvBits {
		return 0
	}
	return n
}

// newServiceMeta is newObjMeta for a service (or a ServiceImport), whose
// key is the index's key of the service, "<service>.<namespace>" (dotted),
// if its name and namespace are labels, as the API's are: the index and
// the service's reverse names keep that string, which then costs no other
// ("ns/svc.ns" held both, at the cost of the namespace's length again). A
// key of that form holds no "/", so it is never one of the other form,
// which a service whose names are not labels keeps (and which owns no name:
// records.service). The watcher's key of a service is "namespace/name"
// whatever its key's form (stateKey).
func newServiceMeta(m *metav1.ObjectMeta) objMeta {
	if !isLabel(m.Name) || !isLabel(m.Namespace) {
		return newObjMeta(m)
	}
	om := packedMeta(m.Name+"."+m.Namespace, uint64(len(m.Namespace))+1, parseRV(m.ResourceVersion))
	om.packed |= dotted
	return om
}

// nsLen is where the namespace ends in the key: at the first '/', which no
// namespace has, if it is not packed.
func (m *objMeta) nsLen() int {
	if n := int(m.packed & (1<<nsBits - 1)); n > 0 {
		return n - 1
	}
	return strings.IndexByte(m.key(), '/')
}

func (m *objMeta) namespace() string {
	k := m.key()
	if m.isDotted() {
		return k[len(k)-m.nsLen():]
	}
	return k[:m.nsLen()]
}

func (m *objMeta) name() string {
	k := m.key()
	if m.isDotted() {
		return k[:len(k)-m.nsLen()-1]
	}
	return k[m.nsLen()+1:]
}

// storeKey is the informers' key of the object (fanout.go): its key.
func (m *objMeta) storeKey() string { return m.key() }

func (m *objMeta) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// GetObjectMeta builds the accessor on demand; the store asks for it only
// when an object is added, updated or deleted.
func (m *objMeta) GetObjectMeta() metav1.Object {
	rv := ""
	if m.rv() != 0 {
		rv = strconv.FormatUint(m.rv(), 10)
	}
	return &metav1.ObjectMeta{Name: m.name(), Namespace: m.namespace(), ResourceVersion: rv}
}
