package kubesvc

import "github.com/coredns/coredns/core/dnsserver"

// publishExternal hands k8s_external's index what it needs of the service
// at key, after a change to it, its slices or its namespace (every such
// change rebuilds it). A service of a namespace that is not served is
// published as gone. Callers hold mu.
func (w *watcher) publishExternal(key string, st *svcState) {
	if w.ext == nil {
		return
	}
	s := st.svc
	if s != nil && !w.serves(s.namespace()) {
		s = nil
	}
	w.ext.setService(key, s, st.slices())
}

// publishExternalNamespace publishes again what k8s_external has of
// namespace ns, which started or stopped being served (its services are
// rebuilt one by one). Callers hold mu.
func (w *watcher) publishExternalNamespace(ns string) {
	if w.ext != nil {
		w.ext.namespaceChanged(ns)
	}
}

// serveExternal gives the watcher k8s_external's index if the server block
// has k8s_external, and watches what its options need, before the watcher
// starts (both plugins' handlers exist by then, whichever starts first).
func (k *KubeSvc) serveExternal(conf *dnsserver.Config, cfg *clientConfig) {
	if e, ok := conf.Handler(externalName).(*External); ok {
		k.attachExternal(e, cfg)
	}
}

// attachExternal gives k's watcher an index for e, and e that index.
func (k *KubeSvc) attachExternal(e *External, cfg *clientConfig) {
	x := newExtIndex()
	x.headless = e.headless
	x.serves = k.w.serves
	k.w.ext = x
	k.ext.Store(x)
	cfg.ingresses = cfg.ingresses || e.ingress
	cfg.gateways = cfg.gateways || e.gateway
}
