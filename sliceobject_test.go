package kubesvc

import (
	"fmt"
	"testing"

	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestKeptSliceHasNoRoomToSpare: a slice whose endpoints are mostly
// without a valid address (or list several each) is kept without the room
// its array was sized for, on either decoding: the store holds it.
func TestKeptSliceHasNoRoomToSpare(t *testing.T) {
	es := slice("default", "web-1", "web", discovery.AddressTypeIPv4, nil)
	for i := range 40 {
		addrs := []string{"nonsense", "fd00::1"}
		if i%10 == 0 {
			addrs = []string{fmt.Sprintf("10.0.0.%d", i+1), fmt.Sprintf("10.0.1.%d", i+1), fmt.Sprintf("10.0.2.%d", i+1)}
		}
		es.Endpoints = append(es.Endpoints, discovery.Endpoint{Addresses: addrs})
	}
	es.TypeMeta = metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"}
	wire, _, err := sparseProtobuf(t).Decode(encodeProtobuf(t, es), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, obj := range map[string]runtime.Object{"client-go's": es, "the wire's": wire} {
		out, err := endpointSliceOf(obj, sliceKeeps{whole: true})
		if err != nil {
			t.Fatal(err)
		}
		eps := out.(*endpointSlice).endpoints
		if len(eps) != 12 || cap(eps) > len(eps)+len(eps)/4 {
			t.Errorf("%s slice keeps %d endpoints in an array of %d, want 12 without room to spare", name, len(eps), cap(eps))
		}
	}
}
