package kubesvc

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Gateway API: k8s_external's gateway option serves the hostnames of
// HTTPRoutes with the addresses of the Gateways that accepted them. Both
// resources are watched only for it.
var (
	gatewaysResource = &resource{
		name: "gateways", gv: gatewayGV, apiPath: "/apis", namespaced: true,
		object: &gwv1.Gateway{}, newList: func() runtime.Object { return &gwv1.GatewayList{} },
		transform: toGateway, handler: (*watcher).gatewayHandler,
		wanted:    func(cfg *clientConfig) bool { return cfg.gateways },
		selectors: func(*clientConfig) []string { return []string{""} },
	}
	httpRoutesResource = &resource{
		name: "httproutes", gv: gatewayGV, apiPath: "/apis", namespaced: true,
		object: &gwv1.HTTPRoute{}, newList: func() runtime.Object { return &gwv1.HTTPRouteList{} },
		transform: toHTTPRoute, handler: (*watcher).httpRouteHandler,
		wanted:    func(cfg *clientConfig) bool { return cfg.gateways },
		selectors: func(*clientConfig) []string { return []string{""} },
	}
)

// gatewayGV is the Gateway API's v1, as a scheme's group-version.
var gatewayGV = schema.GroupVersion{Group: gwv1.GroupName, Version: "v1"}

// gateway is what DNS needs of a Gateway: its addresses and annotations.
type gateway struct {
	objMeta
	ext external
}

func (g *gateway) DeepCopyObject() runtime.Object { return g }

// httpRoute is what DNS needs of an HTTPRoute: its host names and the
// Gateways ("namespace/name") that accepted it.
type httpRoute struct {
	objMeta
	hosts   []string
	parents []string
	ext     external // its own annotations (target, ttl)
}

func (r *httpRoute) DeepCopyObject() runtime.Object { return r }

func toGateway(obj any) (any, error) {
	g, ok := obj.(*gwv1.Gateway)
	if !ok {
		return obj, nil
	}
	out := &gateway{objMeta: newObjMeta(&g.ObjectMeta)}
	for _, a := range g.Status.Addresses {
		switch {
		case a.Type == nil || *a.Type == gwv1.IPAddressType:
			out.ext.addrs = appendLoadBalancer(out.ext.addrs, a.Value, "")
		case *a.Type == gwv1.HostnameAddressType:
			out.ext.addrs = appendLoadBalancer(out.ext.addrs, "", a.Value)
		}
	}
	readAnnotations(&out.ext, g.Annotations)
	return out, nil
}

func toHTTPRoute(obj any) (any, error) {
	r, ok := obj.(*gwv1.HTTPRoute)
	if !ok {
		return obj, nil
	}
	out := &httpRoute{objMeta: newObjMeta(&r.ObjectMeta)}
	for _, h := range r.Spec.Hostnames {
		if n, ok := hostName(string(h)); ok && !slices.Contains(out.hosts, n) {
			out.hosts = append(out.hosts, n)
		}
	}
	for _, p := range r.Spec.ParentRefs {
		if !isGateway(p) {
			continue
		}
		ns := r.Namespace
		if p.Namespace != nil {
			ns = string(*p.Namespace)
		}
		key := ns + "/" + string(p.Name)
		if accepted(r.Status.Parents, p, r.Namespace) && !slices.Contains(out.parents, key) {
			out.parents = append(out.parents, key)
		}
	}
	readAnnotations(&out.ext, r.Annotations)
	return out, nil
}

// isGateway reports whether a parent reference names a Gateway (the
// default group and kind).
func isGateway(p gwv1.ParentReference) bool {
	return (p.Group == nil || *p.Group == gwv1.GroupName) && (p.Kind == nil || *p.Kind == "Gateway")
}

// accepted reports whether a route's status says that parent p accepted it:
// a route a Gateway did not take does not get its addresses.
func accepted(parents []gwv1.RouteParentStatus, p gwv1.ParentReference, routeNS string) bool {
	for _, s := range parents {
		if !isGateway(s.ParentRef) || s.ParentRef.Name != p.Name || nsOf(s.ParentRef, routeNS) != nsOf(p, routeNS) {
			continue
		}
		if meta.IsStatusConditionTrue(s.Conditions, string(gwv1.RouteConditionAccepted)) {
			return true
		}
	}
	return false
}

func nsOf(p gwv1.ParentReference, routeNS string) string {
	if p.Namespace != nil {
		return string(*p.Namespace)
	}
	return routeNS
}

func (w *watcher) gatewayHandler() cache.ResourceEventHandler {
	set := func(obj any, gone bool) {
		g, ok := untomb(obj).(*gateway)
		if !ok {
			unexpected("gateway", obj)
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.ext != nil {
			w.ext.setGateway(g, gone)
		}
	}
	return handlerFuncs(set)
}

func (w *watcher) httpRouteHandler() cache.ResourceEventHandler {
	set := func(obj any, gone bool) {
		r, ok := untomb(obj).(*httpRoute)
		if !ok {
			unexpected("httproute", obj)
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.ext != nil {
			w.ext.setRoute(r, gone)
		}
	}
	return handlerFuncs(set)
}

// handlerFuncs calls set for every event, gone for deletions.
func handlerFuncs(set func(obj any, gone bool)) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { set(obj, false) },
		UpdateFunc: func(_, obj any) { set(obj, false) },
		DeleteFunc: func(obj any) { set(obj, true) },
	}
}
