package e2e

import (
	"cmp"
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// render builds a kustomization as `kubectl kustomize` does.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

// The manifests render, and the real API server accepts every object in a
// server-side dry run (strict field validation).
func TestDeployManifests(t *testing.T) {
	suite(t)
	dyn, err := dynamic.NewForConfig(kube.Admin)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(kube.Admin)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	base := []string{"/services:list", "/services:watch", "discovery.k8s.io/endpointslices:list", "discovery.k8s.io/endpointslices:watch"}
	for dir, grants := range map[string][]string{
		"deploy":                    base,
		"deploy/overlays/autoscale": base,
		// namespace_labels, and only it, needs the Namespaces.
		"deploy/overlays/namespace-labels": append([]string{"/namespaces:list", "/namespaces:watch"}, base...),
		// k8s_external's ingress, and only it, needs the Ingresses.
		"deploy/overlays/external-zone": append(slices.Clone(base), "networking.k8s.io/ingresses:list", "networking.k8s.io/ingresses:watch"),
		// multicluster, and only it, needs the ServiceImports.
		"deploy/overlays/multicluster": append(slices.Clone(base), "multicluster.x-k8s.io/serviceimports:list", "multicluster.x-k8s.io/serviceimports:watch"),
	} {
		t.Run(dir, func(t *testing.T) {
			objs := render(t, filepath.Join(repoRoot, dir))
			kinds := map[string]int{}
			for _, u := range objs {
				kinds[u.GetKind()]++
				gvk := u.GroupVersionKind()
				m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
				if err != nil {
					t.Fatalf("%s %s: %v", gvk, u.GetName(), err)
				}
				ri := dyn.Resource(m.Resource).Namespace(u.GetNamespace())
				_, err = ri.Apply(context.Background(), u.GetName(), u, metav1.ApplyOptions{
					FieldManager: "kubesvc-e2e", Force: true, DryRun: []string{metav1.DryRunAll},
				})
				if err != nil {
					t.Errorf("server-side dry run of %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
				}
			}
			checkLeastPrivilege(t, objs, grants)
			t.Logf("%s: %d objects accepted: %v", dir, len(objs), kinds)
			for _, k := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "PodDisruptionBudget", "Service"} {
				if kinds[k] == 0 {
					t.Errorf("%s renders no %s", dir, k)
				}
			}
		})
	}
}

// checkLeastPrivilege: the roles bound to the coredns Deployment's service
// account, whatever they are named, grant exactly want ("group/resource:verb",
// sorted): list and watch on services and endpointslices, and on namespaces
// where namespace_labels needs them.
func checkLeastPrivilege(t *testing.T, objs []*unstructured.Unstructured, want []string) {
	t.Helper()
	var (
		sa, saNS string
		roles    = map[string][]rbacv1.PolicyRule{} // by "Kind namespace/name"
		bindings []rbacv1.RoleBinding               // ClusterRoleBindings too: the fields that matter are the same
	)
	for _, u := range objs {
		switch u.GetKind() {
		case "Deployment":
			if u.GetName() != "coredns" {
				continue
			}
			var d appsv1.Deployment
			fromUnstructured(t, u, &d)
			sa, saNS = d.Spec.Template.Spec.ServiceAccountName, d.Namespace
			if sa == "" {
				sa = "default"
			}
		case "ClusterRole", "Role":
			var r rbacv1.ClusterRole
			fromUnstructured(t, u, &r)
			roles[u.GetKind()+" "+u.GetNamespace()+"/"+u.GetName()] = r.Rules
		case "ClusterRoleBinding", "RoleBinding":
			var b rbacv1.RoleBinding
			fromUnstructured(t, u, &b)
			bindings = append(bindings, b)
		}
	}
	if sa == "" {
		t.Fatalf("no coredns Deployment rendered")
	}
	granted := map[string]bool{}
	bound := 0
	for _, b := range bindings {
		if !slices.ContainsFunc(b.Subjects, func(s rbacv1.Subject) bool {
			ns := cmp.Or(s.Namespace, b.Namespace)
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && ns == saNS
		}) {
			continue
		}
		ns := b.Namespace
		if b.RoleRef.Kind == "ClusterRole" {
			ns = ""
		}
		rules, ok := roles[b.RoleRef.Kind+" "+ns+"/"+b.RoleRef.Name]
		if !ok {
			t.Errorf("binding %s/%s gives %s/%s the %s %s, which the manifests do not hold", b.Namespace, b.Name, saNS, sa, b.RoleRef.Kind, b.RoleRef.Name)
			continue
		}
		bound++
		for _, r := range rules {
			for _, v := range r.Verbs {
				for _, u := range r.NonResourceURLs {
					granted["nonResourceURL "+u+":"+v] = true
				}
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						key := g + "/" + res + ":" + v
						if len(r.ResourceNames) > 0 {
							key += " (names " + strings.Join(r.ResourceNames, ",") + ")"
						}
						granted[key] = true
					}
				}
			}
		}
	}
	if bound == 0 {
		t.Errorf("no role in the manifests is bound to the coredns service account %s/%s", saNS, sa)
	}
	got := slices.Sorted(maps.Keys(granted))
	if !slices.Equal(got, want) {
		t.Errorf("the roles bound to %s/%s grant %v, want exactly %v", saNS, sa, got, want)
	}
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}
