package kubesvc

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// keptNameLens are the lengths a kept name is tried at: none, one, a
// label's longest, and either side of longNameLen, to the longest an
// object could carry.
var keptNameLens = []int{0, 1, 63, 64, longNameLen - 1, longNameLen, longNameLen + 1, 300, 1 << 16}

// nameOfLen is a lower-case name of n characters.
func nameOfLen(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(i*7+n)%36]
	}
	return string(b)
}

// An endpoint is 32 bytes and a headless member 40 (a string took 8 more
// of each), and the names they keep read back whole at any length: a
// member's label (at most 63 bytes, isLabel), an endpoint's hostname as
// any slice gives it, through either decoder, and a Pod name as long as it
// can be kept (a label; a longer one, up to the API's 253, leaves the
// endpoint to its dashed address).
func TestKeptNamesReadBackWhole(t *testing.T) {
	if size := unsafe.Sizeof(endpoint{}); size != 32 {
		t.Errorf("an endpoint takes %d bytes, want 32", size)
	}
	if size := unsafe.Sizeof(hsMember{}); size != 40 {
		t.Errorf("hsMember is %d bytes, want 40", size)
	}
	ip := netip.MustParseAddr("10.0.0.1")
	short := nameOfLen(63)
	if n := testing.AllocsPerRun(100, func() { var e endpoint; e.setHostname(short) }); n != 0 {
		t.Errorf("keeping a hostname of 63 bytes allocates %v times, want none", n)
	}
	for _, n := range keptNameLens {
		name := nameOfLen(n)
		var e endpoint
		if e.setHostname(name); e.hostname() != name {
			t.Errorf("a hostname of %d bytes reads back as one of %d", n, len(e.hostname()))
		}
		if m := newMember(ip, name, nil, true, false, 0); m.label() != name {
			t.Errorf("a label of %d bytes reads back as one of %d", n, len(m.label()))
		}
	}
	dec := sparseProtobuf(t)
	for _, n := range keptNameLens {
		hostname := strings.ToUpper(nameOfLen(n)) // kept lower-cased
		sl := slice("ns", "web-x", "web", discovery.AddressTypeIPv4, nil, ep("10.0.0.1", hostname, true))
		sl.TypeMeta = metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}
		sparse, _, err := dec.Decode(encodeProtobuf(t, sl), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for from, obj := range map[string]any{"client-go": sl, "sparse": sparse} {
			out, _ := endpointSliceOf(obj, sliceKeeps{podNames: true})
			eps := out.(*endpointSlice).endpoints
			if len(eps) != 1 {
				t.Fatalf("%s: %d endpoints kept, want 1", from, len(eps))
			}
			if h := eps[0].hostname(); h != nameOfLen(n) || eps[0].podName {
				t.Errorf("%s: a hostname of %d bytes is kept as one of %d (Pod name %v)", from, n, len(h), eps[0].podName)
			}
		}
	}
	for n, kept := range map[int]bool{1: true, 63: true, 64: false, 253: false} {
		e := podEp("10.0.0.1", "", "Pod", nameOfLen(n))
		out, _ := endpointSliceOf(slice("ns", "web-x", "web", discovery.AddressTypeIPv4, nil, e), sliceKeeps{podNames: true})
		got, want := out.(*endpointSlice).endpoints[0], ""
		if kept {
			want = nameOfLen(n)
		}
		if got.hostname() != want || got.podName != kept {
			t.Errorf("a Pod name of %d bytes is kept as %q (Pod name %v), want %q", n, got.hostname(), got.podName, want)
		}
	}
}

// sameTransformed reports whether two transforms' outputs are alike: as
// reflect.DeepEqual, but with an endpoint's hostname compared as a string
// (DeepEqual would compare the address it is kept at).
func sameTransformed(a, b any) bool {
	x, okx := a.(*endpointSlice)
	y, oky := b.(*endpointSlice)
	if !okx || !oky || x == nil || y == nil {
		return reflect.DeepEqual(a, b)
	}
	if (x.endpoints == nil) != (y.endpoints == nil) || !slices.EqualFunc(x.endpoints, y.endpoints, sameEndpoint) {
		return false
	}
	xc, yc := *x, *y
	xc.endpoints, yc.endpoints = nil, nil
	return reflect.DeepEqual(&xc, &yc)
}

// transformedText is a transform's output as %+v prints it, with its
// endpoints' hostnames.
func transformedText(obj any) string {
	s, ok := obj.(*endpointSlice)
	if !ok || s == nil {
		return fmt.Sprintf("%+v", obj)
	}
	hostnames := make([]string, len(s.endpoints))
	for i := range s.endpoints {
		hostnames[i] = s.endpoints[i].hostname()
	}
	return fmt.Sprintf("%+v, hostnames %q", s, hostnames)
}
