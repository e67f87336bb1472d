package kubesvc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// Builders of API objects, as the API server would hand them out.

func clusterIPSvc(ns, name string, ips []string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ips[0], ClusterIPs: ips, Ports: ports},
	}
}

func headlessSvc(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	s := clusterIPSvc(ns, name, []string{corev1.ClusterIPNone}, ports...)
	return s
}

func externalSvc(ns, name, target string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target},
	}
}

func svcPort(name string, proto corev1.Protocol, port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: proto, Port: port}
}

// ep is an endpoint: address, hostname ("" for none) and readiness.
func ep(addr, hostname string, ready bool) discovery.Endpoint {
	e := discovery.Endpoint{Addresses: []string{addr}, Conditions: discovery.EndpointConditions{Ready: &ready}}
	if hostname != "" {
		e.Hostname = &hostname
	}
	return e
}

func slice(ns, name, svc string, family discovery.AddressType, ports []discovery.EndpointPort, eps ...discovery.Endpoint) *discovery.EndpointSlice {
	labels := map[string]string{}
	if svc != "" {
		labels[discovery.LabelServiceName] = svc
	}
	return &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, ResourceVersion: "1"},
		AddressType: family,
		Endpoints:   eps,
		Ports:       ports,
	}
}

func slicePort(name string, proto corev1.Protocol, port int32) discovery.EndpointPort {
	return discovery.EndpointPort{Name: &name, Protocol: &proto, Port: &port}
}

// newTestKubeSvc parses corefile, starts the plugin's informers on a fake
// clientset holding objs and waits for the first sync.
func newTestKubeSvc(t testing.TB, corefile string, objs ...runtime.Object) (*KubeSvc, *fake.Clientset) {
	t.Helper()
	k, cfg, err := parse(caddy.NewTestController("dns", corefile))
	if err != nil {
		t.Fatalf("parse %q: %v", corefile, err)
	}
	var kube []runtime.Object
	imports := k8stesting.NewObjectTracker(importScheme, serializer.NewCodecFactory(importScheme).UniversalDecoder())
	for _, o := range objs {
		if si, ok := o.(*mcs.ServiceImport); ok {
			if err := imports.Add(si); err != nil {
				t.Fatal(err)
			}
		} else {
			kube = append(kube, o)
		}
	}
	client := fake.NewClientset(kube...)
	k.Next = test.NextHandler(dns.RcodeRefused, nil) // marks what fell through
	k.w.start(fakeAPI{client, imports}, cfg)
	t.Cleanup(k.w.stop)
	waitFor(t, "first sync", k.Ready)
	return k, client
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ask sends tc's question through h's ServeDNS (kubesvc's or
// k8s_external's) and returns its rcode and the message it wrote (nil if it
// wrote none).
func ask(h plugin.Handler, tc test.Case) (int, *dns.Msg) {
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	rcode, _ := h.ServeDNS(context.Background(), rec, tc.Msg())
	return rcode, rec.Msg
}

// runCases checks each case's full answer.
func runCases(t *testing.T, h plugin.Handler, cases []test.Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(dns.TypeToString[tc.Qtype]+" "+tc.Qname, func(t *testing.T) {
			_, m := ask(h, tc)
			if m == nil {
				t.Fatalf("no answer written")
			}
			if err := test.SortAndCheck(m, tc); err != nil {
				t.Errorf("%v\n%v", err, m)
			}
		})
	}
}

var metav1Create = metav1.CreateOptions{}

// fakeAPI is the watcher's api over client-go's fake clientset, and a
// tracker of its own for ServiceImports, which the clientset does not know.
type fakeAPI struct {
	c       *fake.Clientset
	imports k8stesting.ObjectTracker
}

// importScheme knows ServiceImports, for the fake's tracker.
var importScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := mcs.Install(s); err != nil {
		panic(err)
	}
	return s
}()

var serviceImportsGVR = mcs.SchemeGroupVersion.WithResource("serviceimports")

func (f fakeAPI) list(ctx context.Context, resource, ns string, o metav1.ListOptions) (runtime.Object, error) {
	switch resource {
	case "services":
		return f.c.CoreV1().Services(ns).List(ctx, o)
	case "endpointslices", "multicluster_endpointslices":
		return f.c.DiscoveryV1().EndpointSlices(ns).List(ctx, o)
	case "namespaces":
		return f.c.CoreV1().Namespaces().List(ctx, o)
	case "ingresses":
		return f.c.NetworkingV1().Ingresses(ns).List(ctx, o)
	case "gateways": // not in the fake clientset's scheme: always empty (tests feed the handlers)
		return &gwv1.GatewayList{}, nil
	case "httproutes":
		return &gwv1.HTTPRouteList{}, nil
	case "serviceimports":
		return f.imports.List(serviceImportsGVR, mcs.SchemeGroupVersion.WithKind("ServiceImport"), ns)
	}
	return nil, fmt.Errorf("fakeAPI: no resource %q", resource)
}

func (f fakeAPI) watch(ctx context.Context, resource, ns string, o metav1.ListOptions) (watch.Interface, error) {
	switch resource {
	case "services":
		return f.c.CoreV1().Services(ns).Watch(ctx, o)
	case "endpointslices", "multicluster_endpointslices":
		return f.c.DiscoveryV1().EndpointSlices(ns).Watch(ctx, o)
	case "namespaces":
		return f.c.CoreV1().Namespaces().Watch(ctx, o)
	case "ingresses":
		return f.c.NetworkingV1().Ingresses(ns).Watch(ctx, o)
	case "gateways", "httproutes":
		return watch.NewFake(), nil
	case "serviceimports":
		return f.imports.Watch(serviceImportsGVR, ns)
	}
	return nil, fmt.Errorf("fakeAPI: no resource %q", resource)
}

// IsWatchListSemanticsUnSupported tells the reflector the fake cannot stream
// lists, as the fake clientset itself does.
func (f fakeAPI) IsWatchListSemanticsUnSupported() bool { return true }

// restAPIAt is the plugin's own API client for a test server at url.
func restAPIAt(tb testing.TB, url string) *restAPI {
	tb.Helper()
	rc, err := (&clientConfig{endpoint: url}).restConfig()
	if err != nil {
		tb.Fatal(err)
	}
	a, err := newRestAPI(rc)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// indexHas reports whether a name of cluster.local. or a reverse name
// exists in k's index: whether a query for it gets no NXDOMAIN.
func indexHas(k *KubeSvc, name string) bool {
	z := k.zoneOf([]byte(name))
	return z >= 0 && k.resolve([]byte(name), z, dns.TypeANY).rcode != dns.RcodeNameError
}
