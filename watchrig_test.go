package kubesvc

// Random informer event sequences, through the informers' stores (fanout)
// and the watchers' handlers, for several Corefiles, and the answers to
// every name of interest: the objects they are made of
// (TestRandomEventSequencesEndAsAFreshWatcher, watchsequence_test.go).

import (
	"math/rand"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

type dwFan struct {
	r     *resource
	sel   int
	f     *fanout
	truth map[string]any // the API's objects this watch sees, by ns/name
	// dirty: events were missed, which a watch's informer learns of only
	// by a relist, before the next event it is handed.
	dirty bool
}

type dwRig struct {
	rng      *rand.Rand
	cfg      *clientConfig
	ks       []*KubeSvc
	fans     []*dwFan
	byRes    map[string][]*dwFan
	rv       int
	out      *strings.Builder
	corefile string
}

var (
	dwNamespaces = []string{"ns", "kube-system", "b", "Bad_ns"}
	dwNames      = []string{"a", "b", "kube-dns", "a.b", "Up", "web"}
	dwSliceNames = []string{"s1", "s2", "s3"}
	dwIPs        = []string{"10.96.0.1", "10.96.0.2", "10.96.0.3", "fd00::1", "fd00::2"}
	dwEPs        = []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.96.0.1", "fd00:1::1"}
	dwHosts      = []string{"", "", "h1", "h2", "Bad_h", "10-0-0-3"} // the last: 10.0.0.3's dashed address, as a hostname
	dwTargets    = []string{"example.com", "1.2.3.4", "bad_name..x", "Foo.Example.org.", "a.b.svc.cluster.local"}
	dwClusters   = []string{"c1", "c2", "Bad_c", ""}
)

func (g *dwRig) nextRV() string { g.rv++; return strconv.Itoa(g.rv) }

func (g *dwRig) pick(xs []string) string { return xs[g.rng.Intn(len(xs))] }

func (g *dwRig) service(ns, name string) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: g.nextRV()}}
	s.Spec.PublishNotReadyAddresses = g.rng.Intn(4) == 0
	if g.rng.Intn(3) > 0 {
		s.Spec.Selector = map[string]string{"app": name}
	}
	var ports []corev1.ServicePort
	if g.rng.Intn(2) == 0 {
		ports = append(ports, svcPort("http", "TCP", 80))
	}
	if g.rng.Intn(3) == 0 {
		ports = append(ports, svcPort("dns", "UDP", 53))
	}
	if g.rng.Intn(4) == 0 {
		ports = append(ports, svcPort("", "TCP", 8080))
	}
	s.Spec.Ports = ports
	switch g.rng.Intn(5) {
	case 0, 1:
		s.Spec.Type = corev1.ServiceTypeClusterIP
		ips := []string{g.pick(dwIPs)}
		if g.rng.Intn(4) == 0 {
			ips = append(ips, g.pick(dwIPs))
		}
		s.Spec.ClusterIP, s.Spec.ClusterIPs = ips[0], ips
	case 2, 3:
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
	default:
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = g.pick(dwTargets)
	}
	return s
}

func (g *dwRig) endpoints() []discovery.Endpoint {
	var eps []discovery.Endpoint
	for range g.rng.Intn(4) {
		e := ep(g.pick(dwEPs), g.pick(dwHosts), g.rng.Intn(3) > 0)
		if g.rng.Intn(3) == 0 {
			e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Name: "pod-" + strconv.Itoa(g.rng.Intn(3))}
		}
		eps = append(eps, e)
	}
	return eps
}

func (g *dwRig) epSlice(ns, name string, mc bool) *discovery.EndpointSlice {
	family := discovery.AddressTypeIPv4
	if g.rng.Intn(4) == 0 {
		family = discovery.AddressTypeIPv6
	}
	svc := g.pick(dwNames)
	if g.rng.Intn(10) == 0 {
		svc = ""
	}
	ports := []discovery.EndpointPort{slicePort("http", "TCP", 8080)}
	if g.rng.Intn(3) == 0 {
		ports = append(ports, slicePort("dns", "UDP", 53))
	}
	var eps []discovery.Endpoint
	for _, e := range g.endpoints() {
		if (family == discovery.AddressTypeIPv6) == strings.Contains(e.Addresses[0], ":") {
			eps = append(eps, e)
		}
	}
	sl := slice(ns, name, "", family, ports, eps...)
	sl.ResourceVersion = g.nextRV()
	if mc {
		sl.Labels[mcs.LabelServiceName] = svc
		if c := g.pick(dwClusters); c != "" {
			sl.Labels[mcs.LabelSourceCluster] = c
		}
	} else if svc != "" {
		sl.Labels[discovery.LabelServiceName] = svc
	}
	return sl
}

func (g *dwRig) serviceImport(ns, name string) *mcs.ServiceImport {
	si := &mcs.ServiceImport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: g.nextRV()}}
	if g.rng.Intn(2) == 0 {
		si.Spec.Type = mcs.Headless
	} else {
		si.Spec.Type = mcs.ClusterSetIP
		si.Spec.IPs = []string{g.pick(dwIPs)}
	}
	if g.rng.Intn(2) == 0 {
		si.Spec.Ports = []mcs.ServicePort{{Name: "http", Protocol: "TCP", Port: 80}}
	}
	return si
}

func (g *dwRig) namespace(ns string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, ResourceVersion: g.nextRV()}}
}

// heldSlice is the slice at key as a watch of fans holds it (nil: none).
func (g *dwRig) heldSlice(fans []*dwFan, key string) *discovery.EndpointSlice {
	for _, fan := range fans {
		if sl, ok := fan.truth[key].(*discovery.EndpointSlice); ok {
			return sl
		}
	}
	return nil
}

// edited is sl as a controller edits it: one endpoint's hostname or
// readiness changed, or one endpoint more.
func (g *dwRig) edited(sl *discovery.EndpointSlice) *discovery.EndpointSlice {
	out := sl.DeepCopy()
	out.ResourceVersion = g.nextRV()
	if len(out.Endpoints) == 0 || g.rng.Intn(4) == 0 {
		for _, e := range g.endpoints() {
			if (out.AddressType == discovery.AddressTypeIPv6) == strings.Contains(e.Addresses[0], ":") {
				out.Endpoints = append(out.Endpoints, e)
				break
			}
		}
		return out
	}
	e := &out.Endpoints[g.rng.Intn(len(out.Endpoints))]
	if g.rng.Intn(2) == 0 {
		e.Hostname = nil
		if h := g.pick(dwHosts); h != "" {
			e.Hostname = &h
		}
	} else {
		ready := e.Conditions.Ready == nil || !*e.Conditions.Ready
		e.Conditions.Ready = &ready
	}
	return out
}
