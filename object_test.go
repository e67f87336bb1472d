package kubesvc

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

// The EndpointSlice controller's slices of a service with a cluster IP are
// stored without their endpoints; every other slice keeps them.
func TestEndpointSliceKeepsEndpointsOnlyWhereAnswersUseThem(t *testing.T) {
	web := []discovery.EndpointPort{slicePort("http", "TCP", 8080)}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   int
	}{
		{"controller, cluster IP", map[string]string{discovery.LabelManagedBy: endpointSliceController}, 0},
		{"controller, headless", map[string]string{discovery.LabelManagedBy: endpointSliceController, corev1.IsHeadlessService: ""}, 2},
		{"mirroring controller", map[string]string{discovery.LabelManagedBy: "endpointslicemirroring-controller.k8s.io"}, 2},
		{"hand-made", nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sl := slice("ns", "web-x", "web", discovery.AddressTypeIPv4, web, ep("10.1.0.1", "", true), ep("10.1.0.2", "", false))
			for k, v := range tc.labels {
				sl.Labels[k] = v
			}
			obj, err := toEndpointSlice(sl)
			if err != nil {
				t.Fatal(err)
			}
			got := obj.(*endpointSlice)
			if len(got.endpoints) != tc.want {
				t.Errorf("stored %d endpoints, want %d", len(got.endpoints), tc.want)
			}
			if got.service != "web" || got.key != "ns/web-x" {
				t.Errorf("stored slice %q of service %q, want ns/web-x of web", got.key, got.service)
			}
		})
	}
}
