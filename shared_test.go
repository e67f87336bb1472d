package kubesvc

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
)

// countingAPI counts the lists and watches of each resource.
type countingAPI struct {
	fakeAPI
	n *requestCounts
}

type requestCounts struct {
	sync.Mutex
	lists, watches map[string]int
}

func (c countingAPI) list(ctx context.Context, resource, ns string, o metav1.ListOptions) (runtime.Object, error) {
	c.n.Lock()
	c.n.lists[resource]++
	c.n.Unlock()
	return c.fakeAPI.list(ctx, resource, ns, o)
}

func (c countingAPI) watch(ctx context.Context, resource, ns string, o metav1.ListOptions) (watch.Interface, error) {
	c.n.Lock()
	c.n.watches[resource]++
	c.n.Unlock()
	return c.fakeAPI.watch(ctx, resource, ns, o)
}

func (c countingAPI) counts(resource string) (lists, watches int) {
	c.n.Lock()
	defer c.n.Unlock()
	return c.n.lists[resource], c.n.watches[resource]
}

// Two instances with the same connection (two server blocks, or a reload's
// new instance beside the old) share the informers: one list and one watch
// per resource and selector, every instance gets every event, and the
// informers stop with the last instance.
func TestInstancesShareInformers(t *testing.T) {
	client := countingAPI{fakeAPI{c: fake.NewClientset(seed()...)}, &requestCounts{lists: map[string]int{}, watches: map[string]int{}}}
	start := func(corefile string) *KubeSvc {
		k, cfg, err := parse(caddy.NewTestController("dns", corefile))
		if err != nil {
			t.Fatal(err)
		}
		k.w.start(client, cfg)
		t.Cleanup(k.w.stop)
		waitFor(t, "first sync", k.Ready)
		return k
	}
	inside := start(clusterCorefile)
	outside := start("kubesvc cluster.local")
	for resource, want := range map[string]int{"services": 1, "endpointslices": 2} { // two slice selectors
		if lists, watches := client.counts(resource); lists != want || watches != want {
			t.Errorf("%s: %d lists and %d watches for two instances, want %d of each", resource, lists, watches, want)
		}
	}
	if _, err := client.c.CoreV1().Services("default").Create(context.Background(), clusterIPSvc("default", "late", []string{"10.96.7.7"}), metav1Create); err != nil {
		t.Fatal(err)
	}
	for _, k := range []*KubeSvc{inside, outside} {
		waitFor(t, "the new service in both", func() bool {
			_, m := ask(k, test.Case{Qname: "late.default.svc.cluster.local.", Qtype: dns.TypeA})
			return m != nil && len(m.Answer) == 1
		})
	}
	inside.w.stop()
	inside.w.stop() // a second stop lets go of nothing
	if _, err := client.c.CoreV1().Services("default").Create(context.Background(), clusterIPSvc("default", "later", []string{"10.96.7.8"}), metav1Create); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the next service in the remaining instance", func() bool {
		_, m := ask(outside, test.Case{Qname: "later.default.svc.cluster.local.", Qtype: dns.TypeA})
		return m != nil && len(m.Answer) == 1
	})
	outside.w.stop()
	shared.Lock()
	defer shared.Unlock()
	for key := range shared.m {
		if key.conn == connOf(client) {
			t.Errorf("informer %+v still runs after its last instance stopped", key)
		}
	}
}

// slowNamespaces is the fake API with its Namespace list delayed: every
// other informer delivers first.
type slowNamespaces struct{ fakeAPI }

func (s slowNamespaces) list(ctx context.Context, resource, ns string, o metav1.ListOptions) (runtime.Object, error) {
	if resource == "namespaces" {
		time.Sleep(300 * time.Millisecond)
	}
	return s.fakeAPI.list(ctx, resource, ns, o)
}

// An informer starts as its instance subscribes, and may deliver at once:
// every handler is made first, so that namespace_labels filters the
// services that arrive before the namespaces do (a service of a namespace
// it does not select was served until its next change).
func TestNamespaceFilterBeforeAnyInformerRuns(t *testing.T) {
	k, cfg, err := parse(caddy.NewTestController("dns", namespaceLabelsCorefile))
	if err != nil {
		t.Fatal(err)
	}
	client := slowNamespaces{fakeAPI{c: fake.NewClientset(
		labelledNamespace("in", map[string]string{"dns": "served"}), labelledNamespace("out", map[string]string{"dns": "no"}),
		clusterIPSvc("in", "web", []string{"10.0.0.1"}), clusterIPSvc("out", "web", []string{"10.0.0.2"}))}}
	// The Service informer delivers before the next one is subscribed.
	t.Cleanup(func() { subscribed = func(*resource) {} })
	subscribed = func(r *resource) {
		if r == servicesResource {
			time.Sleep(200 * time.Millisecond)
		}
	}
	k.w.start(client, cfg)
	t.Cleanup(k.w.stop)
	waitFor(t, "first sync", k.Ready)
	if indexHas(k, "web.out.svc.cluster.local.") {
		t.Errorf("web.out.svc.cluster.local. is served, in a namespace namespace_labels does not select")
	}
	if !indexHas(k, "web.in.svc.cluster.local.") {
		t.Errorf("web.in.svc.cluster.local. is not served")
	}
}
