package kubesvc

import (
	"testing"

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
		{"", 0}, {"0", 0}, {"1", 1}, {"18446744073709551615", 1<<64 - 1},
		{"18446744073709551616", 0}, {"007", 0}, {"+7", 0}, {"7a", 0}, {"abc", 0},
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
