package kubesvc

import (
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// objMeta is the identity of a stored object. It satisfies what the
// informer's store needs (runtime.Object and meta.Accessor through
// GetObjectMeta) without carrying a whole ObjectMeta per object.
type objMeta struct {
	key string // "namespace/name", as the watcher files services
	// packed is the resource version (rv) above nsBits bits that say where
	// the namespace ends in key: one word where a string and a length took
	// three.
	packed uint64
}

// nsBits hold len(namespace)+1, or 0 for unknown (a namespace longer than
// the API allows, or an objMeta built by hand), which namespace then finds.
const nsBits = 8

func newObjMeta(m *metav1.ObjectMeta) objMeta {
	return objMeta{key: m.Namespace + "/" + m.Name, packed: pack(m)}
}

func pack(m *metav1.ObjectMeta) uint64 {
	var ns uint64
	if len(m.Namespace) < 1<<nsBits-1 {
		ns = uint64(len(m.Namespace)) + 1
	}
	return parseRV(m.ResourceVersion)<<nsBits | ns
}

// rv is the resource version as a number: an API server's are decimal
// numbers (etcd's revisions). 0: none, or one of another form (the API
// calls them opaque), whose updates are then never taken for replays.
func (m *objMeta) rv() uint64 { return m.packed >> nsBits }

// setRV sets the resource version, which must fit (parseRV).
func (m *objMeta) setRV(rv uint64) { m.packed = rv<<nsBits | m.packed&(1<<nsBits-1) }

// parseRV is a resource version as a number, if it is one written as
// FormatUint writes it (so that GetObjectMeta gives it back as it came)
// and it fits with the namespace's length (below 2^56: etcd's revisions
// would take centuries to get there); 0 otherwise.
func parseRV(s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s || n >= 1<<(64-nsBits) {
		return 0
	}
	return n
}

// newServiceMeta is newObjMeta for a service, whose key's string is
// followed by the index's key of the service, "<service>.<namespace>", in
// the same allocation ("ns/svc.ns"): the index keeps that, and it then
// costs a few bytes of the key's allocation rather than a string of its own.
func newServiceMeta(m *metav1.ObjectMeta) objMeta {
	both := m.Namespace + "/" + m.Name + "." + m.Namespace
	return objMeta{key: both[:len(m.Namespace)+1+len(m.Name)], packed: pack(m)}
}

// nsLen is where the namespace ends in the key: at the first '/', which no
// namespace has, if it is not packed.
func (m *objMeta) nsLen() int {
	if n := int(m.packed & (1<<nsBits - 1)); n > 0 {
		return n - 1
	}
	return strings.IndexByte(m.key, '/')
}

func (m *objMeta) namespace() string { return m.key[:m.nsLen()] }
func (m *objMeta) name() string      { return m.key[m.nsLen()+1:] }

// storeKey is the informers' key of the object (fanout.go): its key.
func (m *objMeta) storeKey() string { return m.key }

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
