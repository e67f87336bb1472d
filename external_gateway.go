package kubesvc

import "slices"

// The writer's side of the names objects give themselves: every Ingress,
// Gateway and HTTPRoute the informers hold (whether their namespace is
// served or not, so that a namespace that starts or stops being served is
// published again at once), and the names they publish. Callers hold the
// watcher's lock, which serves (the watcher's namespace filter) needs.

// setIngress records in (gone: deleted) and publishes its hosts.
func (x *extIndex) setIngress(in *ingress, gone bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	setOrDeleteObj(x.ingresses, in.key(), in, gone)
	x.publishIngress(in, gone)
}

func (x *extIndex) publishIngress(in *ingress, gone bool) {
	owner := "ingresses/" + in.key()
	if gone || !x.serves(in.namespace()) {
		x.setNames(owner, nil, nil)
		return
	}
	x.setNames(owner, in.hosts, &extName{owner: owner, source: fromIngress,
		addrs: in.ext.addrs, targets: in.ext.targets, ttl: in.ext.ttl, hasTTL: in.ext.hasTTL})
}

// setGateway records g (gone: deleted) and republishes the routes it
// accepted.
func (x *extIndex) setGateway(g *gateway, gone bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	setOrDeleteObj(x.gateways, g.key(), g, gone)
	for _, r := range x.routes {
		if slices.Contains(r.parents, g.key()) {
			x.publishRoute(r, false)
		}
	}
}

// setRoute records r (gone: deleted) and publishes its names.
func (x *extIndex) setRoute(r *httpRoute, gone bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	setOrDeleteObj(x.routes, r.key(), r, gone)
	x.publishRoute(r, gone)
}

// publishRoute publishes r's hosts with the addresses of the Gateways that
// accepted it, and the route's own target and ttl annotations, or else
// those of its Gateways. A Gateway of a namespace not served gives none.
func (x *extIndex) publishRoute(r *httpRoute, gone bool) {
	owner := "httproutes/" + r.key()
	if gone || !x.serves(r.namespace()) {
		x.setNames(owner, nil, nil)
		return
	}
	n := &extName{owner: owner, source: fromRoute, targets: r.ext.targets, ttl: r.ext.ttl, hasTTL: r.ext.hasTTL}
	for _, p := range r.parents {
		g := x.gateways[p]
		if g == nil || !x.serves(g.namespace()) {
			continue
		}
		n.addrs = appendNew(n.addrs, g.ext.addrs...)
		if len(r.ext.targets) == 0 {
			n.targets = appendNew(n.targets, g.ext.targets...)
		}
		if !r.ext.hasTTL && g.ext.hasTTL && (!n.hasTTL || g.ext.ttl < n.ttl) {
			n.ttl, n.hasTTL = g.ext.ttl, true
		}
	}
	x.setNames(owner, r.hosts, n)
}

// namespaceChanged publishes again the objects of namespace ns, which
// started or stopped being served, and the routes its Gateways accepted.
func (x *extIndex) namespaceChanged(ns string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, in := range x.ingresses {
		if in.namespace() == ns {
			x.publishIngress(in, false)
		}
	}
	for _, r := range x.routes {
		if r.namespace() == ns || slices.ContainsFunc(r.parents, func(p string) bool { return namespaceOf(p) == ns }) {
			x.publishRoute(r, false)
		}
	}
}

func setOrDeleteObj[T any](m map[string]T, key string, v T, gone bool) {
	if gone {
		delete(m, key)
	} else {
		m[key] = v
	}
}
