package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// namespace creates namespace ns for t (if missing) and, when t ends, deletes
// the Services and EndpointSlices in it (no controller runs here, so deleting
// the namespace would delete nothing).
func namespace(t *testing.T, ns string) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if _, err := kube.Client.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() { emptyNamespace(t, ns) })
}

func emptyNamespace(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kube.Client.DiscoveryV1().EndpointSlices(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Errorf("delete endpointslices in %s: %v", ns, err)
	}
	svcs, err := kube.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Errorf("list services in %s: %v", ns, err)
		return
	}
	for _, s := range svcs.Items {
		if err := kube.Client.CoreV1().Services(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete service %s/%s: %v", ns, s.Name, err)
		}
	}
}

// getService reads a Service from the API.
func getService(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	s, err := kube.Client.CoreV1().Services(ns).Get(ctxFor(t, 10*time.Second), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get service %s/%s: %v", ns, name, err)
	}
	return s
}

// createService creates s and returns it as stored (cluster IPs allocated).
func createService(t *testing.T, s *corev1.Service) *corev1.Service {
	t.Helper()
	out, err := kube.Client.CoreV1().Services(s.Namespace).Create(ctxFor(t, 10*time.Second), s, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s/%s: %v", s.Namespace, s.Name, err)
	}
	return out
}

// createSlice creates an EndpointSlice.
func createSlice(t *testing.T, sl *discoveryv1.EndpointSlice) *discoveryv1.EndpointSlice {
	t.Helper()
	out, err := kube.Client.DiscoveryV1().EndpointSlices(sl.Namespace).Create(ctxFor(t, 10*time.Second), sl, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create endpointslice %s/%s: %v", sl.Namespace, sl.Name, err)
	}
	return out
}

// clusterIPService is a ClusterIP service with one TCP port (name may be "").
func clusterIPService(ns, name, portName string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{
				Name: portName, Port: port, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(port),
			}},
		},
	}
}

// headlessService is a headless service with one named TCP port.
func headlessService(ns, name, portName string, port int32) *corev1.Service {
	s := clusterIPService(ns, name, portName, port)
	s.Spec.ClusterIP = corev1.ClusterIPNone
	return s
}

// externalNameService points at target.
func externalNameService(ns, name, target string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target},
	}
}

// ep is one endpoint for slice: hostname may be "".
type ep struct {
	ip, hostname string
	notReady     bool
}

// slice is an IPv4 EndpointSlice of service svc with one named TCP port.
func slice(ns, name, svc, portName string, port int32, eps ...ep) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{
			Name: ptr.To(portName), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP),
		}},
	}
	for _, e := range eps {
		x := discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(!e.notReady)},
		}
		if e.hostname != "" {
			x.Hostname = ptr.To(e.hostname)
		}
		sl.Endpoints = append(sl.Endpoints, x)
	}
	return sl
}
