package kubesvc

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A second stop takes nothing out of the services gauge again (stop's own
// promise, which shared_test's double stop relies on), the services the
// watcher keeps no state of (still in its index) included.
func TestSecondStopLeavesTheServicesGaugeBe(t *testing.T) {
	gauge := indexServices.WithLabelValues("clusterip")
	before := testutil.ToFloat64(gauge)
	w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 30}, false)
	for i := range 10 {
		s := transformedService(t, clusterIPSvc("stop2", fmt.Sprint("svc-", i), []string{fmt.Sprintf("10.96.2.%d", i+1)}))
		w.setService(s.key, s)
	}
	w.stop()
	if got := testutil.ToFloat64(gauge) - before; got != 0 {
		t.Fatalf("after the first stop the clusterip gauge is %v off where it was, want 0", got)
	}
	w.stop()
	if got := testutil.ToFloat64(gauge) - before; got != 0 {
		t.Errorf("after a second stop the clusterip gauge is %v off where it was before the watcher, want 0 (it took the 10 services out again)", got)
	}
}
