package kubesvc

import (
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// ingressesResource: Ingresses are watched only for k8s_external's ingress
// option, the only one that needs them and their RBAC.
var ingressesResource = &resource{
	name: "ingresses", gv: networkingv1.SchemeGroupVersion, apiPath: "/apis", namespaced: true,
	object: &networkingv1.Ingress{}, newList: func() runtime.Object { return &networkingv1.IngressList{} },
	transform: toIngress, handler: (*watcher).ingressHandler,
	wanted:    func(cfg *clientConfig) bool { return cfg.ingresses },
	selectors: func(*clientConfig) []string { return []string{""} }, // labels selects Services only
}

// ingress is what DNS needs of a networking.k8s.io/v1 Ingress: the host
// names of its rules and the addresses its controller published.
type ingress struct {
	objMeta
	hosts []string // lower-cased FQDNs; wildcards and other non-host names left out
	ext   external // status.loadBalancer.ingress and the external-dns annotations
}

// DeepCopyObject returns the object itself: stored objects are never mutated.
func (i *ingress) DeepCopyObject() runtime.Object { return i }

// toIngress is the Ingress informer's transform.
func toIngress(obj any) (any, error) {
	in, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return obj, nil
	}
	out := &ingress{objMeta: newObjMeta(&in.ObjectMeta)}
	for _, r := range in.Spec.Rules {
		if h, ok := hostName(r.Host); ok && !slices.Contains(out.hosts, h) {
			out.hosts = append(out.hosts, h)
		}
	}
	for _, lb := range in.Status.LoadBalancer.Ingress {
		out.ext.addrs = appendLoadBalancer(out.ext.addrs, lb.IP, lb.Hostname)
	}
	readAnnotations(&out.ext, in.Annotations)
	return out, nil
}

// ingressHandler publishes each Ingress's hosts in k8s_external's index.
func (w *watcher) ingressHandler() cache.ResourceEventHandler {
	set := func(obj any, gone bool) {
		in, ok := untomb(obj).(*ingress)
		if !ok {
			unexpected("ingress", obj)
			return
		}
		w.setIngress(in, gone)
	}
	return handlerFuncs(set)
}

// setIngress hands in (gone: deleted) to k8s_external's index.
func (w *watcher) setIngress(in *ingress, gone bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ext != nil {
		w.ext.setIngress(in, gone)
	}
}
