package kubesvc

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// multicluster ZONES (stock's option of the same name): ServiceImports of
// the Multi-Cluster Services API (KEP-1645) and the EndpointSlices labelled
// multicluster.kubernetes.io/service-name answer in ZONES (clusterset.local),
// per the Kubernetes DNS-Based Multicluster Service Discovery specification:
//
//	<svc>.<ns>.svc.<mczone>                      ClusterSetIP: its IPs; Headless: its ready endpoints
//	_<port>._<proto>.<svc>.<ns>.svc.<mczone>     SRV per named port (and endpoint)
//	<hostname>.<clusterid>.<svc>.<ns>.svc.<mczone>  a headless import's endpoint
//
// with PTR records for the IPs that have no cluster-local one. An import is
// a service (imported) of the same kinds, filed in the watcher under its
// own key (importKey), and a multicluster slice an endpoint slice filed
// under it; records makes them in the multicluster zones only.

// mcsSpecVersion is the multicluster specification's schema: the
// dns-version TXT record of a multicluster zone says it (its section 2.2).
const mcsSpecVersion = "1.0.0"

// importsScope marks ServiceImports in watcher keys: "<ns>/serviceimports/<name>"
// cannot be a Service's "<ns>/<name>".
const importsScope = "/serviceimports"

func importKey(ns, name string) string { return ns + importsScope + "/" + name }

// nsScope is what a watcher key counts towards <ns>.svc.<zone>: "<ns>" for a
// service, "<ns>/serviceimports" for an import (in the multicluster zones).
func nsScope(key string) string {
	if i := strings.Index(key, importsScope+"/"); i >= 0 {
		return key[:i+len(importsScope)]
	}
	return namespaceOf(key)
}

// stateKey is the watcher key of a service or an import.
func (s *service) stateKey() string {
	switch {
	case s.is(svcImported):
		return importKey(s.namespace(), s.name())
	case !s.isDotted():
		return s.key() // "namespace/name" already
	}
	return s.namespace() + "/" + s.name()
}

var (
	serviceImportsResource = &resource{
		name: "serviceimports", gv: mcs.SchemeGroupVersion, apiPath: "/apis", namespaced: true,
		object: &mcs.ServiceImport{}, newList: func() runtime.Object { return &mcs.ServiceImportList{} },
		transform: toServiceImport, handler: (*watcher).serviceHandler,
		// Watched only with multicluster, the only option that needs it
		// and the only one that needs RBAC on ServiceImports.
		wanted:    func(cfg *clientConfig) bool { return cfg.multicluster },
		selectors: func(*clientConfig) []string { return []string{""} },
	}
	multiclusterSlicesResource = &resource{
		name: "multicluster_endpointslices", rest: "endpointslices", gv: discovery.SchemeGroupVersion, apiPath: "/apis", namespaced: true,
		object: &discovery.EndpointSlice{}, newList: func() runtime.Object { return &discovery.EndpointSliceList{} },
		transform: toMulticlusterSlice, handler: (*watcher).sliceHandler,
		transformWith: func(cfg *clientConfig) cache.TransformFunc {
			keep := sliceKeeps{podNames: cfg.podNames, whole: true}
			return func(obj any) (any, error) { return multiclusterSliceOf(obj, keep) }
		},
		// Stock watches them whatever noendpoints says, and so does kubesvc.
		wanted:    func(cfg *clientConfig) bool { return cfg.multicluster },
		selectors: func(*clientConfig) []string { return []string{mcs.LabelServiceName} },
	}
)

// toServiceImport is the ServiceImport informer's transform. A type other
// than the two the API defines (its CRD refuses others) owns its name with
// no record: NODATA, never another import's answers.
func toServiceImport(obj any) (any, error) {
	si, ok := obj.(*mcs.ServiceImport)
	if !ok {
		return obj, nil
	}
	s := &service{objMeta: newServiceMeta(&si.ObjectMeta), flags: svcImported, kind: kindClusterIP}
	var more []netip.Addr
	switch si.Spec.Type {
	case mcs.Headless:
		s.kind = kindHeadless
	case mcs.ClusterSetIP:
		more = s.setIPs(parseIPs(si.Spec.IPs, ""))
	}
	var ports []port
	for _, p := range si.Spec.Ports {
		if np, ok := namedPort(p.Name, p.Protocol, p.Port); ok {
			ports = append(ports, np)
		}
	}
	s.setPorts(sharedPorts(ports))
	return s.withRare(external{}, "", more), nil
}

// toMulticlusterSlice is the multicluster EndpointSlices' transform.
func toMulticlusterSlice(obj any) (any, error) {
	return multiclusterSliceOf(obj, sliceKeeps{whole: true})
}

// multiclusterSliceOf is a slice of a ServiceImport: its service is
// "<import>/<source cluster>", or "" (ignored) without an import's name.
func multiclusterSliceOf(obj any, keep sliceKeeps) (any, error) {
	var labels map[string]string
	switch es := obj.(type) {
	case *wireSlice:
		labels = es.Labels
	case *discovery.EndpointSlice:
		labels = es.Labels
	default:
		return obj, nil
	}
	name, cluster := labels[mcs.LabelServiceName], labels[mcs.LabelSourceCluster]
	out, err := endpointSliceOf(obj, keep)
	if err != nil {
		return nil, err
	}
	if sl, ok := out.(*endpointSlice); ok {
		sl.service = ""
		if name != "" && !strings.Contains(name, "/") {
			sl.service = name + "/" + cluster
		}
	}
	return out, nil
}

// cluster is a multicluster slice's source cluster.
func (s *endpointSlice) cluster() string {
	_, c, _ := strings.Cut(s.service, "/")
	return c
}

// serviceImport makes what an import owns in the multicluster zones.
func (r *records) serviceImport(o *owned, s *service, sls []*endpointSlice) {
	for i, zone := range r.mcZones {
		base := within(s.name()+"."+s.namespace()+".svc", zone)
		switch s.kind {
		case kindClusterIP:
			r.importClusterIP(o, s, sls, base, i == 0)
		case kindHeadless:
			ms := importMembers(s, sls, base, r.podNames)
			r.importAnswers(o, ms, base, i == 0)
			for _, m := range ms {
				if m.target != "" {
					o.at(m.target[strings.IndexByte(m.target, '.')+1:]) // <clusterid>.<base>
				}
			}
		}
	}
}

// importMembers are a headless import's members: each source cluster's
// endpoints go by <hostname>.<clusterid>.<base>. An endpoint of a slice
// without a source cluster that can be a label is answered at base and has
// no name of its own (the specification names each by its cluster).
func importMembers(s *service, sls []*endpointSlice, base string, podNames bool) []importMember {
	byCluster := map[string][]*endpointSlice{}
	for _, sl := range sls {
		byCluster[sl.cluster()] = append(byCluster[sl.cluster()], sl)
	}
	var out []importMember
	for c, group := range byCluster {
		if !isLabel(c) {
			ms := clusterMembers(s, group, base, podNames)
			for i := range ms {
				ms[i].target = ""
			}
			out = append(out, ms...)
			continue
		}
		out = append(out, clusterMembers(s, group, strings.ToLower(c)+"."+base, podNames)...)
	}
	slices.SortFunc(out, func(a, b importMember) int {
		return cmp.Or(a.ip.Compare(b.ip), strings.Compare(a.target, b.target))
	})
	return out
}

// parseMulticluster reads the multicluster option's zones, which must be
// zones of the plugin (setZones checks them).
func parseMulticluster(c *caddy.Controller, k *KubeSvc, cfg *clientConfig, args []string) error {
	if len(args) == 0 {
		return c.Errf("multicluster needs the zones of ServiceImports, such as clusterset.local (stock ignores it without them)")
	}
	for _, a := range args {
		if _, ok := dns.IsDomainName(a); !ok {
			return c.Errf("multicluster: %q is not a zone", a)
		}
		k.mcZones = append(k.mcZones, strings.ToLower(dns.Fqdn(a)))
	}
	cfg.multicluster = true
	return nil
}
