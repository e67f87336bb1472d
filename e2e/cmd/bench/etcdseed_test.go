package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/cluster"
	"github.com/kubesvc/kubesvc/e2e/coredns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// startCluster starts the real control plane, or skips the test without
// one (fails under KUBESVC_E2E_REQUIRED=1).
func startCluster(t *testing.T) *cluster.Cluster {
	t.Helper()
	if os.Getenv(cluster.AssetsEnv) == "" {
		if root, err := coredns.FindRoot(); err == nil {
			t.Setenv(cluster.AssetsEnv, filepath.Join(root, "bin"))
		}
	}
	if err := cluster.CheckAssets(); err != nil {
		if os.Getenv("KUBESVC_E2E_REQUIRED") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kube, err := cluster.Start(ctx, cluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kube.Stop() })
	return kube
}

// TestEtcdSeededObjectsAreServedAsAPICreatedOnes seeds a ClusterIP and a
// headless service with their EndpointSlices through the API, and the same
// two under other names straight into etcd, and checks that the API server
// announces the etcd-seeded ones on a watch and serves them identical to the
// API-created ones: every field the same but names, UIDs, times, resource
// versions and cluster IPs (so also what DNS reads: type, cluster IPs and
// families, ports, endpoints and their conditions, the slice's labels), and
// the ClusterIP's IPAddress too.
func TestEtcdSeededObjectsAreServedAsAPICreatedOnes(t *testing.T) {
	kube := startCluster(t)
	ctx := context.Background()
	c, err := fastClient(kube.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := ensureNamespaces(ctx, c, 1); err != nil {
		t.Fatal(err)
	}
	d := &dataset{namespaces: 1, headlessFrac: 0.5, endpoints: 3}
	api := d.plan(2) // svc-00000 (ClusterIP) and hl-00001 (headless)
	if err := createServices(ctx, c, api, 2, t.Logf); err != nil {
		t.Fatal(err)
	}
	seeded := make([]service, len(api))
	for i, s := range api {
		seeded[i] = s
		seeded[i].name = "e" + s.name[1:] // as long: the pods' made-up UIDs stay alike
	}
	w, err := c.CoreV1().Services(api[0].ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	s, err := newEtcdSeeder(ctx, c, kube.EtcdURL(), cluster.EtcdPrefix, api[0], api[1])
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	free, err := freeServiceIPs(ctx, c, []string{cluster.ServiceCIDRv4}, 16) // spares: one may be taken meanwhile
	if err != nil {
		t.Fatal(err)
	}
	if err := s.seed(ctx, seeded, free, 1, t.Logf); err != nil {
		t.Fatal(err)
	}
	waitAdded(t, w, seeded)
	if _, err := checkListed(ctx, c, seeded); err != nil {
		t.Fatal(err)
	}
	for i := range api {
		sameAsAPICreated(t, c, api[i], seeded[i])
	}
}

// waitAdded waits for an ADDED event on w for each of svcs.
func waitAdded(t *testing.T, w watch.Interface, svcs []service) {
	t.Helper()
	want := map[string]bool{}
	for _, s := range svcs {
		want[s.name] = true
	}
	timeout := time.After(30 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-w.ResultChan():
			if m, err := metaOf(ev.Object); err == nil && ev.Type == watch.Added {
				delete(want, m.GetName())
			}
		case <-timeout:
			t.Fatalf("no ADDED event within 30s for the services written into etcd: %v", want)
		}
	}
}

func metaOf(o any) (metav1.Object, error) {
	m, ok := o.(metav1.Object)
	if !ok {
		return nil, os.ErrInvalid
	}
	return m, nil
}

// sameAsAPICreated fetches a's and e's Service, EndpointSlice and (for a
// ClusterIP service) IPAddress, renames e's to a's, and requires them equal
// but for UIDs, times and resource versions.
func sameAsAPICreated(t *testing.T, c kubernetes.Interface, a, e service) {
	t.Helper()
	ctx := context.Background()
	get := func(s service) []any {
		svc, err := c.CoreV1().Services(s.ns).Get(ctx, s.name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sl, err := c.DiscoveryV1().EndpointSlices(s.ns).Get(ctx, s.sliceName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		objs := []any{svc, sl}
		if !s.headless {
			ip, err := c.NetworkingV1().IPAddresses().Get(ctx, svc.Spec.ClusterIP, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("IPAddress of %s/%s: %v", s.ns, s.name, err)
			}
			objs = append(objs, ip)
		}
		return objs
	}
	want, got := get(a), get(e)
	for i := range want {
		w, g := normalized(t, want[i], nil), normalized(t, got[i], map[string]string{e.name: a.name})
		if !e.headless {
			g = strings.ReplaceAll(g, `"`+e.ips[0]+`"`, `"`+a.ips[0]+`"`)
		}
		if w != g {
			t.Errorf("%s written into etcd is served as\n%s\nthe API-created %s as\n%s", e.name, g, a.name, w)
		}
	}
}

// normalized is o as JSON with its UID, creation time, resource version and
// managed fields' times blanked and the names in rename replaced.
func normalized(t *testing.T, o any, rename map[string]string) string {
	t.Helper()
	m, err := metaOf(o)
	if err != nil {
		t.Fatalf("%T has no metadata", o)
	}
	m.SetUID("")
	m.SetCreationTimestamp(metav1.Time{})
	m.SetResourceVersion("")
	mf := m.GetManagedFields()
	for i := range mf {
		mf[i].Time = nil
	}
	m.SetManagedFields(mf)
	b, err := json.MarshalIndent(o, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for from, to := range rename {
		s = strings.ReplaceAll(s, from, to)
	}
	return s
}
