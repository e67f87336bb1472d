package kubesvc

import "slices"

// setGateway records g (one without addresses: gone) and republishes the
// routes it accepted.
func (x *extIndex) setGateway(g *gateway) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if g.ext.empty() {
		delete(x.gateways, g.key)
	} else {
		x.gateways[g.key] = g
	}
	for _, r := range x.routes {
		if slices.Contains(r.parents, g.key) {
			x.publishRoute(r)
		}
	}
}

// setRoute records r (one without hosts: gone) and publishes its names.
func (x *extIndex) setRoute(r *httpRoute) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(r.hosts) == 0 {
		delete(x.routes, r.key)
	} else {
		x.routes[r.key] = r
	}
	x.publishRoute(r)
}

// publishRoute publishes r's hosts with the addresses of the Gateways that
// accepted it, and the route's own target and ttl annotations, or else
// those of its Gateways.
func (x *extIndex) publishRoute(r *httpRoute) {
	owner := "httproutes/" + r.key
	n := &extName{owner: owner, source: fromRoute, targets: r.ext.targets, ttl: r.ext.ttl, hasTTL: r.ext.hasTTL}
	for _, p := range r.parents {
		g := x.gateways[p]
		if g == nil {
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
