package kubesvc

import (
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func gatewayObj(ns, name string, addrs ...gwv1.GatewayStatusAddress) *gwv1.Gateway {
	return &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
		Status: gwv1.GatewayStatus{Addresses: addrs}}
}

// routeObj is an HTTPRoute of hosts, attached to the Gateways parents
// ("namespace/name"), accepted by those in accepted.
func routeObj(ns, name string, hosts []string, parents []gwv1.ParentReference, accepted ...gwv1.ParentReference) *gwv1.HTTPRoute {
	r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"}}
	for _, h := range hosts {
		r.Spec.Hostnames = append(r.Spec.Hostnames, gwv1.Hostname(h))
	}
	r.Spec.ParentRefs = parents
	for _, p := range accepted {
		r.Status.Parents = append(r.Status.Parents, gwv1.RouteParentStatus{ParentRef: p, ControllerName: "example.com/gw",
			Conditions: []metav1.Condition{{Type: string(gwv1.RouteConditionAccepted), Status: metav1.ConditionTrue}}})
	}
	return r
}

func parent(ns, name string) gwv1.ParentReference {
	p := gwv1.ParentReference{Name: gwv1.ObjectName(name)}
	if ns != "" {
		p.Namespace = ptr.To(gwv1.Namespace(ns))
	}
	return p
}

// HTTPRoute hosts answer the addresses of the Gateways that accepted them,
// follow the Gateway's status, and are gone with the route.
func TestExternalGatewayRoutes(t *testing.T) {
	e, _ := newTestExternal(t, clusterCorefile, "k8s_external example.com {\n gateway\n}")
	w := e.k.w
	apply := func(obj any, gone bool) {
		t.Helper()
		var out any
		var err error
		var h interface {
			OnAdd(any, bool)
			OnDelete(any)
		}
		switch o := obj.(type) {
		case *gwv1.Gateway:
			out, err = toGateway(o)
			h = w.gatewayHandler()
		case *gwv1.HTTPRoute:
			out, err = toHTTPRoute(o)
			h = w.httpRouteHandler()
		}
		if err != nil {
			t.Fatal(err)
		}
		if gone {
			h.OnDelete(out)
		} else {
			h.OnAdd(out, false)
		}
	}
	ipType, hostType := ptr.To(gwv1.IPAddressType), ptr.To(gwv1.HostnameAddressType)
	apply(gatewayObj("infra", "gw", gwv1.GatewayStatusAddress{Value: "192.168.0.70"}, gwv1.GatewayStatusAddress{Type: ipType, Value: "2001:db8::70"},
		gwv1.GatewayStatusAddress{Type: ptr.To(gwv1.AddressType("example.com/custom")), Value: "x"}), false)
	apply(gatewayObj("default", "named", gwv1.GatewayStatusAddress{Type: hostType, Value: "lb.example.net"}), false)
	apply(routeObj("default", "shop", []string{"shop.example.com", "*.shop.example.com", "other.example.org"},
		[]gwv1.ParentReference{parent("infra", "gw")}, parent("infra", "gw")), false)
	apply(routeObj("default", "blog", []string{"blog.example.com"}, []gwv1.ParentReference{parent("", "named")}, parent("", "named")), false)
	apply(routeObj("default", "pending", []string{"pending.example.com"}, []gwv1.ParentReference{parent("infra", "gw")}), false) // not accepted
	soa := "example.com. 5 IN SOA ns1.dns.example.com. hostmaster.dns.example.com. 0 7200 1800 86400 5"
	runCases(t, e, []test.Case{
		{Qname: "shop.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("shop.example.com. 5 IN A 192.168.0.70")}},
		{Qname: "shop.example.com.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("shop.example.com. 5 IN AAAA 2001:db8::70")}},
		{Qname: "blog.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.CNAME("blog.example.com. 5 IN CNAME lb.example.net.")}},
		{Qname: "pending.example.com.", Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(soa)}},
		{Qname: "x.shop.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
	})
	apply(gatewayObj("infra", "gw", gwv1.GatewayStatusAddress{Value: "192.168.0.71"}), false)
	apply(routeObj("default", "blog", []string{"blog.example.com"}, nil), true)
	runCases(t, e, []test.Case{
		{Qname: "shop.example.com.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("shop.example.com. 5 IN A 192.168.0.71")}},
		{Qname: "blog.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soa)}},
	})
}
