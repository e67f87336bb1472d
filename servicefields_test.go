package kubesvc

import (
	"fmt"
	"testing"
	"unsafe"
)

// A service's cluster IPs read back in the order the API lists them,
// whichever family comes first, and the struct stays in its size class.
func TestServiceKeepsClusterIPsInOrder(t *testing.T) {
	for _, ips := range [][]string{{"10.96.0.1"}, {"fd00::1"}, {"10.96.0.1", "fd00::1"}, {"fd00::1", "10.96.0.1"}} {
		s := transformedService(t, clusterIPSvc("ns", "svc", ips))
		var got []string
		for i := range s.numIPs() {
			got = append(got, s.clusterIP(i).String())
		}
		if fmt.Sprint(got) != fmt.Sprint(ips) {
			t.Errorf("cluster IPs %q read back as %q", ips, got)
		}
	}
	if size := unsafe.Sizeof(service{}); size != 32 {
		t.Errorf("a service takes %d bytes, want 32 (a size class of Go's allocator)", size)
	}
}
