package kubesvc

import (
	"strings"
	"testing"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A resource version is kept as a number when it is one, and given back
// as it came; any other form is kept as none, so that no update of such an
// object is ever taken for a replay.
func TestResourceVersionKeptAsNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"", 0}, {"0", 0}, {"1", 1}, {"1099511627775", 1<<40 - 1},
		{"1099511627776", 0}, {"18446744073709551616", 0}, {"007", 0}, {"+7", 0}, {"7a", 0}, {"abc", 0},
	} {
		if got := parseRV(tc.in); got != tc.want {
			t.Errorf("parseRV(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	m := newObjMeta(&metav1.ObjectMeta{Namespace: "ns", Name: "a", ResourceVersion: "12345"})
	if got := m.GetObjectMeta(); got.GetResourceVersion() != "12345" || got.GetNamespace() != "ns" || got.GetName() != "a" {
		t.Errorf("object meta given back as %s/%s version %q, want ns/a version 12345", got.GetNamespace(), got.GetName(), got.GetResourceVersion())
	}
	old, now := newObjMeta(&metav1.ObjectMeta{ResourceVersion: "x1"}), newObjMeta(&metav1.ObjectMeta{ResourceVersion: "x1"})
	if replayed(&old, &now) {
		t.Error("an update with a resource version of another form was taken for a replay")
	}
	old, now = newObjMeta(&metav1.ObjectMeta{ResourceVersion: "9"}), newObjMeta(&metav1.ObjectMeta{ResourceVersion: "9"})
	if !replayed(&old, &now) {
		t.Error("an update with the same resource version was not taken for a replay")
	}
}

// An object's namespace and name read back as they came, whether the
// namespace's length is packed with the version or found in the key.
func TestObjMetaNamespaceAndName(t *testing.T) {
	long := strings.Repeat("n", 300) // longer than the API allows: found, not packed
	for _, m := range []metav1.ObjectMeta{
		{Namespace: "ns", Name: "a", ResourceVersion: "1099511627775"},
		{Name: "cluster-scoped", ResourceVersion: "3"},
		{Namespace: long, Name: "b.c", ResourceVersion: "x"},
		// a key too long for lenBits: read back whole, with no version
		{Namespace: "ns", Name: strings.Repeat("l", 70000), ResourceVersion: "5"},
	} {
		for i, o := range []objMeta{newObjMeta(&m), newServiceMeta(&m), keyMeta(m.Namespace+"/"+m.Name, 0)} {
			want := m.Namespace + "/" + m.Name
			if labels := isLabel(m.Name) && isLabel(m.Namespace); i == 1 && labels {
				want = m.Name + "." + m.Namespace // a service's, dotted
			}
			if o.namespace() != m.Namespace || o.name() != m.Name || o.key() != want || o.isDotted() != (want != m.Namespace+"/"+m.Name) {
				t.Errorf("%.20s/%.20s: read back as %.20s/%.20s, key %.30q", m.Namespace, m.Name, o.namespace(), o.name(), o.key())
			}
		}
		want := m.ResourceVersion
		if want == "x" || len(m.Name) > 65000 {
			want = "" // no number, or no room for one
		}
		if o := newObjMeta(&m); o.GetObjectMeta().GetResourceVersion() != want {
			t.Errorf("%.20s: version %q, want %q", m.Name, o.GetObjectMeta().GetResourceVersion(), want)
		}
		o := newObjMeta(&m)
		if o.setRV(9); o.key() != m.Namespace+"/"+m.Name || (len(m.Name) > 65000) != (o.rv() == 0) {
			t.Errorf("%.20s: after setRV(9), key %.30q, version %d", m.Name, o.key(), o.rv())
		}
	}
	if size := unsafe.Sizeof(objMeta{}); size != 16 {
		t.Errorf("an objMeta takes %d bytes, want 16", size)
	}
}
