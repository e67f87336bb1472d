package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// gatewayClient writes Gateway API objects, and their status, as a
// Gateway controller would.
type gatewayClient struct {
	t   *testing.T
	dyn dynamic.Interface
}

func (g gatewayClient) resource(name string) schema.GroupVersionResource {
	return schema.GroupVersion{Group: gwv1.GroupName, Version: "v1"}.WithResource(name)
}

// apply creates obj (a *gwv1.Gateway or *gwv1.HTTPRoute) and then writes
// its status, returning the object as stored.
func (g gatewayClient) apply(resource string, obj runtime.Object, status bool) {
	g.t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		g.t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	ri := g.dyn.Resource(g.resource(resource)).Namespace(u.GetNamespace())
	ctx := ctxFor(g.t, 10*time.Second)
	cur, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
	if err != nil {
		if cur, err = ri.Create(ctx, u, metav1.CreateOptions{}); err != nil {
			g.t.Fatalf("create %s %s: %v", resource, u.GetName(), err)
		}
	}
	if status {
		u.SetResourceVersion(cur.GetResourceVersion())
		if _, err := ri.UpdateStatus(ctx, u, metav1.UpdateOptions{}); err != nil {
			g.t.Fatalf("update the status of %s %s: %v", resource, u.GetName(), err)
		}
	}
}

func (g gatewayClient) delete(resource, ns, name string) {
	g.t.Helper()
	if err := g.dyn.Resource(g.resource(resource)).Namespace(ns).Delete(ctxFor(g.t, 10*time.Second), name, metav1.DeleteOptions{}); err != nil {
		g.t.Fatalf("delete %s %s/%s: %v", resource, ns, name, err)
	}
}

func testGateway(ns, name, addr string) *gwv1.Gateway {
	gw := &gwv1.Gateway{
		TypeMeta:   metav1.TypeMeta{APIVersion: gwv1.GroupName + "/v1", Kind: "Gateway"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwv1.GatewaySpec{GatewayClassName: "example", Listeners: []gwv1.Listener{
			{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}},
	}
	gw.Status.Addresses = []gwv1.GatewayStatusAddress{{Type: ptr.To(gwv1.IPAddressType), Value: addr}}
	return gw
}

func testRoute(ns, name, host, gateway string) *gwv1.HTTPRoute {
	ref := gwv1.ParentReference{Name: gwv1.ObjectName(gateway)}
	r := &gwv1.HTTPRoute{
		TypeMeta:   metav1.TypeMeta{APIVersion: gwv1.GroupName + "/v1", Kind: "HTTPRoute"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwv1.HTTPRouteSpec{Hostnames: []gwv1.Hostname{gwv1.Hostname(host)},
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{ref}}},
	}
	var conds []metav1.Condition
	meta.SetStatusCondition(&conds, metav1.Condition{Type: string(gwv1.RouteConditionAccepted), Status: metav1.ConditionTrue,
		Reason: string(gwv1.RouteReasonAccepted), Message: "accepted"})
	r.Status.Parents = []gwv1.RouteParentStatus{{ParentRef: ref, ControllerName: "example.com/gateway-controller", Conditions: conds}}
	return r
}

// k8s_external's gateway: an HTTPRoute's hostname answers the address of
// the Gateway that accepted it, follows the Gateway's status, and is gone
// with the route, against the real API server with the Gateway API's CRDs.
func TestExternalGatewayRoutes(t *testing.T) {
	suite(t)
	const ns = "e2e-gateway"
	namespace(t, ns)
	dyn, err := dynamic.NewForConfig(kube.Admin)
	if err != nil {
		t.Fatal(err)
	}
	gc := gatewayClient{t: t, dyn: dyn}
	gc.apply("gateways", testGateway(ns, "gw", "192.168.0.80"), true)
	t.Cleanup(func() {
		_ = dyn.Resource(gc.resource("gateways")).Namespace(ns).Delete(t.Context(), "gw", metav1.DeleteOptions{})
	})
	gc.apply("httproutes", testRoute(ns, "shop", "shop.example.com", "gw"), true)
	kc := overlayUser(t, "kubesvc-coredns-gateway", "deploy/overlays/external-zone/rbac-gateway.yaml")
	srv := startCoreDNS(t, "gateway", corednsBin, kc, func(p coredns.Ports, kc string) string {
		return coredns.PluginCorefile("kubesvc", p, kc, "server:k8s_external example.com {\n        gateway\n    }")
	})
	if err := srv.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	addr := srv.Ports.DNSAddr()
	a := func(ip string) want { return want{answer: []string{fmt.Sprintf("shop.example.com. 5 IN A %s", ip)}} }
	eventually(t, 30*time.Second, "the route's host", answers(addr, "shop.example.com.", dns.TypeA, a("192.168.0.80")))
	gc.apply("gateways", testGateway(ns, "gw", "192.168.0.81"), true)
	eventually(t, time.Second, "the Gateway's new address", answers(addr, "shop.example.com.", dns.TypeA, a("192.168.0.81")))
	gc.delete("httproutes", ns, "shop")
	eventually(t, time.Second, "the deleted route's host", answers(addr, "shop.example.com.", dns.TypeA, want{rcode: dns.RcodeNameError, anyAnswer: true}))
}
