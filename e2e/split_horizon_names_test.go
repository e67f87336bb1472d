package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// createIngress creates an Ingress in default with hosts, at address ip.
func createIngress(t *testing.T, name, ip string, hosts ...string) {
	t.Helper()
	in := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}}
	for _, h := range hosts {
		in.Spec.Rules = append(in.Spec.Rules, networkingv1.IngressRule{Host: h})
	}
	t.Cleanup(func() {
		_ = kube.Client.NetworkingV1().Ingresses("default").Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	created, err := kube.Client.NetworkingV1().Ingresses("default").Create(ctxFor(t, 10*time.Second), in, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create the Ingress %s: %v", name, err)
	}
	setIngressAddress(t, created, ip)
}

func startSplitHorizon(t *testing.T) *coredns.Server {
	t.Helper()
	kc := overlayUser(t, "kubesvc-coredns-ingresses", "deploy/overlays/external-zone/rbac-ingresses.yaml")
	srv := startCoreDNS(t, "split", corednsBin, kc, func(p coredns.Ports, kc string) string {
		return coredns.SplitHorizonCorefile(p, kc, false)
	})
	if err := srv.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	return srv
}

// An Ingress for the zone's apex (example.com itself) answers its address
// in both faces beside the SOA, and a host two labels down makes the label
// between an empty non-terminal: NODATA, not NXDOMAIN, which a resolver
// minimising its questions would take as "nothing below" (RFC 8020).
func TestSplitHorizonApexHostAndEmptyNonTerminals(t *testing.T) {
	suite(t)
	createIngress(t, "apex-site", "192.168.0.81", "example.com", "app.team.example.com")
	addr := startSplitHorizon(t).Ports.DNSAddr()
	nodata := want{soa: false, check: func(r *dns.Msg) error {
		if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA || r.Ns[0].Header().Name != "example.com." {
			return fmt.Errorf("authority is not example.com.'s SOA: %v", r.Ns)
		}
		return nil
	}}
	for _, c := range []struct {
		src, name string
		w         want
	}{
		{insideIP, "example.com.", want{answer: []string{"example.com. 5 IN A 192.168.0.81"}}},
		{outsideIP, "example.com.", want{answer: []string{"example.com. 900 IN A 203.0.113.10"}}},
		{insideIP, "app.team.example.com.", want{answer: []string{"app.team.example.com. 5 IN A 192.168.0.81"}}},
		{insideIP, "team.example.com.", nodata},
		{outsideIP, "team.example.com.", nodata},
		{outsideIP, "other.team.example.com.", want{rcode: dns.RcodeNameError, anyAnswer: true}},
	} {
		eventually(t, 30*time.Second, c.name+" from "+c.src, answersFrom(c.src, addr, c.name, dns.TypeA, c.w))
	}
}

// A tenant's Service in another namespace cannot take over a service's own
// name with its hostname and target annotations, in either face.
func TestSplitHorizonForeignHostnameDoesNotTakeOverServiceName(t *testing.T) {
	suite(t)
	ctx := context.Background()
	namespace(t, "e2e-tenant")
	own := loadBalancerService("default", "web2")
	t.Cleanup(func() { _ = kube.Client.CoreV1().Services("default").Delete(ctx, "web2", metav1.DeleteOptions{}) })
	setLoadBalancer(t, createService(t, own), "192.168.0.83")
	foreign := loadBalancerService("e2e-tenant", "grab")
	foreign.Annotations = map[string]string{
		"external-dns.alpha.kubernetes.io/hostname": "web2.default.example.com",
		"external-dns.alpha.kubernetes.io/target":   "198.51.100.66",
	}
	setLoadBalancer(t, createService(t, foreign), "192.168.0.84")
	addr := startSplitHorizon(t).Ports.DNSAddr()
	for _, c := range []struct{ src, ip string }{{insideIP, "192.168.0.83"}, {outsideIP, "203.0.113.10"}} {
		eventually(t, 30*time.Second, "web2.default.example.com. from "+c.src,
			answersFrom(c.src, addr, "web2.default.example.com.", dns.TypeA, want{answer: []string{"web2.default.example.com. * IN A " + c.ip}}))
	}
}
