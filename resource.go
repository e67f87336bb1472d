package kubesvc

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/coredns/caddy"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// resource describes one watched Kubernetes resource: everything the REST
// client, the informer, the watcher and the metrics need of it. Adding a
// resource is one more description, its transform and the records it feeds;
// nothing else switches on which resource it is.
type resource struct {
	name       string              // the REST resource (unless rest), and the metrics' resource label
	rest       string              // the REST resource if not name
	gv         schema.GroupVersion // registered in the minimal scheme with object and list
	apiPath    string              // "/api" for the core group, "/apis" for the others
	namespaced bool                // false: one cluster-wide watch, whatever namespaces says
	object     runtime.Object      // the informer's object type
	newList    func() runtime.Object
	transform  cache.TransformFunc // API object -> the small struct the store keeps
	// transformWith, if set, is the transform for the Corefile's options.
	transformWith func(*clientConfig) cache.TransformFunc
	handler       func(*watcher) cache.ResourceEventHandler

	wanted func(*clientConfig) bool // whether the Corefile needs this resource watched
	// selectors are the label selectors of its watches, one informer each
	// (one selector at least; "" selects everything).
	selectors func(*clientConfig) []string

	// busy: watched over an HTTP/1.1 connection a watch (busywatch.go),
	// its changes and streamed lists applied as they are read
	// (directwatch.go, listinplace.go): for a resource whose changes are
	// many and large (EndpointSlices), or whose lists are (Services: a
	// relist after an API server restart lists them all).
	busy bool

	contact prometheus.Gauge // api_last_contact_timestamp_seconds{resource=name}
}

var (
	servicesResource = &resource{
		name: "services", gv: corev1.SchemeGroupVersion, apiPath: "/api", namespaced: true,
		object: &corev1.Service{}, newList: func() runtime.Object { return &corev1.ServiceList{} },
		transform: toService, handler: (*watcher).serviceHandler, busy: true,
		wanted:    func(*clientConfig) bool { return true },
		selectors: func(cfg *clientConfig) []string { return []string{cfg.labels} },
	}
	endpointSlicesResource = &resource{
		name: "endpointslices", gv: discovery.SchemeGroupVersion, apiPath: "/apis", namespaced: true,
		object: &discovery.EndpointSlice{}, newList: func() runtime.Object { return &discovery.EndpointSliceList{} },
		transform: toEndpointSlice, handler: (*watcher).sliceHandler, busy: true,
		transformWith: func(cfg *clientConfig) cache.TransformFunc {
			if !cfg.podNames && !cfg.zonal {
				return toEndpointSlice
			}
			keep := sliceKeeps{podNames: cfg.podNames, zones: cfg.zonal}
			return func(obj any) (any, error) { return endpointSliceOf(obj, keep) }
		},
		// noendpoints: headless services have no endpoints to answer with,
		// as with the stock plugin, which then skips this watch too.
		wanted: func(cfg *clientConfig) bool { return !cfg.noEndpoints },
		// A service's slices carry the controller's labels, not the
		// service's: labels selects services only, as in stock.
		selectors: func(cfg *clientConfig) []string { return sliceSelectors(cfg.allSlices) },
	}
	namespacesResource = &resource{
		name: "namespaces", gv: corev1.SchemeGroupVersion, apiPath: "/api", namespaced: false,
		object: &corev1.Namespace{}, newList: func() runtime.Object { return &corev1.NamespaceList{} },
		transform: toNamespace, handler: (*watcher).namespaceHandler,
		// Watched only for namespace_labels: the only option that needs
		// it, and the only one that needs RBAC on namespaces.
		wanted: func(cfg *clientConfig) bool { return cfg.namespaceLabels != "" },
		// The API server filters by the selector: a namespace whose labels
		// stop matching is deleted from the watch, one that starts matching
		// is added.
		selectors: func(cfg *clientConfig) []string { return []string{cfg.namespaceLabels} },
	}
)

// sliceSelectors are the label selectors of the EndpointSlice watches. Only
// headless services are answered with their endpoints, and most slices of a
// cluster are the EndpointSlice controller's for services with a cluster IP,
// which it does not label service.kubernetes.io/headless (see notHeadless):
// unless every slice matters (all), two watches leave those to the API
// server. One takes the controller's slices of headless services, the other
// every slice someone else manages (the mirroring controller's, hand-made
// ones), whose labels promise nothing. The two are disjoint, so no slice
// comes twice; one that moves between them is handled by removeSlice.
func sliceSelectors(all bool) []string {
	if all {
		return []string{""}
	}
	return []string{
		corev1.IsHeadlessService + "," + discovery.LabelManagedBy + "=" + endpointSliceController,
		discovery.LabelManagedBy + "!=" + endpointSliceController,
	}
}

// resources are all the descriptions, in the order their informers start.
var resources = []*resource{servicesResource, endpointSlicesResource, namespacesResource, serviceImportsResource,
	multiclusterSlicesResource, ingressesResource, gatewaysResource, httpRoutesResource}

func init() {
	for _, r := range resources {
		apiScheme.AddKnownTypes(r.gv, r.object, r.newList())
		metav1.AddToGroupVersion(apiScheme, r.gv) // list options, watch events, Status
		r.contact = apiLastContact.WithLabelValues(r.name)
	}
}

// restName is the REST resource the description lists and watches.
func (r *resource) restName() string { return cmp.Or(r.rest, r.name) }

// transformFor is the resource's transform for the Corefile's options.
func (r *resource) transformFor(cfg *clientConfig) cache.TransformFunc {
	if r.transformWith != nil {
		return r.transformWith(cfg)
	}
	return r.transform
}

// resourceNamed is the description of a resource; an unknown name is an
// error, never some default.
func resourceNamed(name string) (*resource, error) {
	for _, r := range resources {
		if r.name == name {
			return r, nil
		}
	}
	return nil, fmt.Errorf("kubesvc does not watch the resource %q", name)
}

// parseResourceOption reads the options that choose what is watched and
// what the transforms keep.
func parseResourceOption(c *caddy.Controller, k *KubeSvc, opt string, args []string, cfg *clientConfig) error {
	switch opt {
	case "zonal":
		return parseZonal(c, k, cfg, args)
	case "multicluster":
		return parseMulticluster(c, k, cfg, args)
	case "namespace_labels":
		sel, err := labels.Parse(strings.Join(args, " "))
		if len(args) == 0 || err != nil {
			return c.Errf("namespace_labels needs a label selector: %v", err)
		}
		cfg.namespaceLabels = sel.String()
	case "noendpoints":
		if len(args) != 0 {
			return c.Errf("noendpoints takes no arguments, got %d", len(args))
		}
		cfg.noEndpoints = true
	default:
		return c.Errf("unknown option %q", opt)
	}
	return nil
}

// watched are the descriptions the Corefile needs.
func (cfg *clientConfig) watched() []*resource {
	var out []*resource
	for _, r := range resources {
		if r.wanted(cfg) {
			out = append(out, r)
		}
	}
	return out
}
