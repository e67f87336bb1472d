package kubesvc

import (
	"cmp"
	"maps"
	"slices"
	"testing"

	"github.com/miekg/dns"
	discovery "k8s.io/api/discovery/v1"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// Every description is whole: its object and list are in the minimal
// scheme (or the REST client could not decode them), its transform keeps
// an object the store can file and accepts its own output, and it has a
// handler, a selector and a contact gauge.
func TestResourceDescriptionsAreWhole(t *testing.T) {
	w := newWatcher(records{zones: []string{"cluster.local."}, ttl: 5}, false)
	for _, r := range resources {
		for _, obj := range []runtime.Object{r.object, r.newList()} {
			if _, _, err := apiScheme.ObjectKinds(obj); err != nil {
				t.Errorf("%s: %T not in the scheme: %v", r.name, obj, err)
			}
		}
		obj := r.object.DeepCopyObject()
		m, err := meta.Accessor(obj)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		m.SetName("x")
		if r.namespaced {
			m.SetNamespace("ns")
		}
		small, err := r.transform(obj)
		if err != nil {
			t.Fatalf("%s: transform: %v", r.name, err)
		}
		if again, _ := r.transform(small); again != small {
			t.Errorf("%s: the transform changed its own output", r.name)
		}
		key, err := cache.MetaNamespaceKeyFunc(small)
		if want := map[bool]string{true: "ns/x", false: "x"}[r.namespaced]; err != nil || key != want {
			t.Errorf("%s: stored under %q (%v), want %q", r.name, key, err, want)
		}
		if r.handler(w) == nil || r.selectors == nil || len(r.selectors(&clientConfig{})) == 0 || r.wanted == nil || r.contact == nil {
			t.Errorf("%s: description without handler, selectors, wanted or contact", r.name)
		}
	}
}

// The API is asked only for what the Corefile needs: no Namespaces without
// namespace_labels, no EndpointSlices with noendpoints, whose headless
// services then have no endpoints to answer with (NXDOMAIN, as stock).
func TestOnlyWantedResourcesAreAsked(t *testing.T) {
	objs := []runtime.Object{
		headlessSvc("default", "hl", svcPort("http", "TCP", 80)),
		slice("default", "hl-1", "hl", discovery.AddressTypeIPv4, nil, ep("10.1.0.1", "web-0", true)),
		clusterIPSvc("default", "web", []string{"10.0.0.1"}),
	}
	for _, tc := range []struct {
		option string
		asked  []string
		rcode  int // of hl.default.svc.cluster.local. A
	}{
		{"", []string{"endpointslices", "services"}, dns.RcodeSuccess},
		{"noendpoints", []string{"services"}, dns.RcodeNameError},
		{"namespace_labels x=y", []string{"endpointslices", "namespaces", "services"}, dns.RcodeNameError},
	} {
		t.Run(cmp.Or(tc.option, "no option"), func(t *testing.T) {
			k, client := newTestKubeSvc(t, "kubesvc cluster.local {\n"+tc.option+"\n}", objs...)
			set := map[string]bool{}
			for _, a := range client.Actions() {
				set[a.GetResource().Resource] = true
			}
			if got := slices.Sorted(maps.Keys(set)); !slices.Equal(got, tc.asked) {
				t.Errorf("asked the API for %v, want %v", got, tc.asked)
			}
			if got := rcodeOf(t, k, "hl.default.svc.cluster.local.", dns.TypeA); got != tc.rcode {
				t.Errorf("hl.default.svc: %s, want %s", dns.RcodeToString[got], dns.RcodeToString[tc.rcode])
			}
			if got := rcodeOf(t, k, "web.default.svc.cluster.local.", dns.TypeA); (got == dns.RcodeSuccess) != (tc.option != "namespace_labels x=y") {
				t.Errorf("web.default.svc: %s", dns.RcodeToString[got])
			}
		})
	}
}
