package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	for _, dir := range []string{"deploy", "deploy/overlays/autoscale"} {
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
				if u.GetKind() == "ClusterRole" && u.GetName() == "system:coredns" {
					checkLeastPrivilege(t, u)
				}
			}
			t.Logf("%s: %d objects accepted: %v", dir, len(objs), kinds)
			for _, k := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "PodDisruptionBudget", "Service"} {
				if kinds[k] == 0 {
					t.Errorf("%s renders no %s", dir, k)
				}
			}
		})
	}
}

// checkLeastPrivilege: list and watch on services and endpointslices only.
func checkLeastPrivilege(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	var role rbacv1.ClusterRole
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &role); err != nil {
		t.Fatal(err)
	}
	granted := map[string]bool{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					granted[g+"/"+res+":"+v] = true
				}
			}
		}
	}
	var got []string
	for k := range granted {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"/services:list", "/services:watch", "discovery.k8s.io/endpointslices:list", "discovery.k8s.io/endpointslices:watch"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ClusterRole grants %v, want exactly %v", got, want)
	}
}
