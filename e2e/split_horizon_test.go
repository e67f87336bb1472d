package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The seed's two horizons: the view tells clients by their address.
const (
	insideIP  = "127.0.0.1"
	outsideIP = "127.0.0.2"
)

// askFrom sends a question to addr from the local address src.
func askFrom(src, addr, proto, name string, qtype uint16) (*dns.Msg, error) {
	c := &dns.Client{Net: proto, Timeout: queryLimit, Dialer: &net.Dialer{Timeout: queryLimit}}
	if proto == "tcp" {
		c.Dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	} else {
		c.Dialer.LocalAddr = &net.UDPAddr{IP: net.ParseIP(src)}
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// answersFrom is answers for a client at src, over UDP and TCP.
func answersFrom(src, addr, name string, qtype uint16, w want) func() (bool, string) {
	return func() (bool, string) {
		for _, proto := range protos {
			r, err := askFrom(src, addr, proto, name, qtype)
			if err != nil {
				return false, fmt.Sprintf("%s from %s: %v", proto, src, err)
			}
			if errs := w.verify(r); len(errs) > 0 {
				return false, fmt.Sprintf("%s from %s: %v\n%v", proto, src, errs, r)
			}
		}
		return true, ""
	}
}

// seedObjects creates the seed's objects in default: the Ingress
// example-ingress (xxx.example.com, 192.168.0.51) and the LoadBalancer web
// (192.168.0.52, hostname web.example.com, target 203.0.113.20).
func seedObjects(t *testing.T) {
	t.Helper()
	ctx := context.Background() // the cleanups run after the test's context ends
	web := clusterIPService("default", "web", "http", 80)
	web.Spec.Type = corev1.ServiceTypeLoadBalancer
	web.Annotations = map[string]string{
		"external-dns.alpha.kubernetes.io/hostname": "web.example.com",
		"external-dns.alpha.kubernetes.io/target":   "203.0.113.20",
	}
	t.Cleanup(func() { _ = kube.Client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}) })
	setLoadBalancer(t, createService(t, web), "192.168.0.52")
	in := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "example-ingress"},
		Spec:       networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "xxx.example.com"}}},
	}
	t.Cleanup(func() {
		err := kube.Client.NetworkingV1().Ingresses("default").Delete(ctx, "example-ingress", metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete the Ingress: %v", err)
		}
	})
	created, err := kube.Client.NetworkingV1().Ingresses("default").Create(ctxFor(t, 10*time.Second), in, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create the Ingress: %v", err)
	}
	setIngressAddress(t, created, "192.168.0.51")
}

func setIngressAddress(t *testing.T, in *networkingv1.Ingress, ip string) *networkingv1.Ingress {
	t.Helper()
	in.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: ip}}
	out, err := kube.Client.NetworkingV1().Ingresses(in.Namespace).UpdateStatus(ctxFor(t, 10*time.Second), in, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update the Ingress's status: %v", err)
	}
	return out
}

// The README's split horizon, end to end: one process, one set of watches,
// two faces of example.com told apart by the client's address.
func TestSplitHorizonSeedSetup(t *testing.T) {
	suite(t)
	seedObjects(t)
	kc := overlayUser(t, "kubesvc-coredns-ingresses", "deploy/overlays/external-zone/rbac-ingresses.yaml")
	srv := startCoreDNS(t, "split", corednsBin, kc, func(p coredns.Ports, kc string) string {
		return coredns.SplitHorizonCorefile(p, kc, false)
	})
	if err := srv.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
		t.Fatal(err)
	}
	addr := srv.Ports.DNSAddr()
	a := func(name, ip string, ttl int) want {
		return want{answer: []string{fmt.Sprintf("%s %d IN A %s", name, ttl, ip)}}
	}
	for _, c := range []struct {
		src, name string
		w         want
	}{
		{insideIP, "xxx.example.com.", a("xxx.example.com.", "192.168.0.51", 5)},
		{insideIP, "web.example.com.", a("web.example.com.", "192.168.0.52", 5)},
		{insideIP, "web.default.example.com.", a("web.default.example.com.", "192.168.0.52", 5)},
		{insideIP, "blog.mosuke.tech.", want{anyAnswer: true, check: nonEmpty}},
		{insideIP, "kubernetes.default.svc.cluster.local.", want{anyAnswer: true, check: nonEmpty}},
		{outsideIP, "xxx.example.com.", a("xxx.example.com.", "203.0.113.10", 900)},
		{outsideIP, "web.example.com.", a("web.example.com.", "203.0.113.20", 900)},
		{outsideIP, "web.default.example.com.", a("web.default.example.com.", "203.0.113.20", 900)},
		{outsideIP, "kubernetes.default.svc.cluster.local.", want{rcode: dns.RcodeRefused}},
		{outsideIP, "cluster.local.", want{rcode: dns.RcodeRefused}},
		{outsideIP, "blog.mosuke.tech.", want{rcode: dns.RcodeRefused}},
		{outsideIP, "1.0.96.10.in-addr.arpa.", want{rcode: dns.RcodeRefused}},
	} {
		eventually(t, 30*time.Second, c.name+" from "+c.src, answersFrom(c.src, addr, c.name, dns.TypeA, c.w))
	}

	// A new status address moves the name in both faces' sources, and a
	// deleted Ingress's name is gone from both, each within a second.
	in, err := kube.Client.NetworkingV1().Ingresses("default").Get(ctxFor(t, 10*time.Second), "example-ingress", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setIngressAddress(t, in, "192.168.0.61")
	eventually(t, time.Second, "the new address inside", answersFrom(insideIP, addr, "xxx.example.com.", dns.TypeA, a("xxx.example.com.", "192.168.0.61", 5)))
	if err := kube.Client.NetworkingV1().Ingresses("default").Delete(ctxFor(t, 10*time.Second), "example-ingress", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{insideIP, outsideIP} {
		eventually(t, time.Second, "the deleted Ingress's name from "+src, answersFrom(src, addr, "xxx.example.com.", dns.TypeA, want{rcode: dns.RcodeNameError, anyAnswer: true}))
	}
}

func nonEmpty(r *dns.Msg) error {
	if len(r.Answer) == 0 {
		return fmt.Errorf("no answer")
	}
	return nil
}

// openWatches counts the API server's open watches of each resource
// kubesvc watches (its apiserver_longrunning_requests).
func openWatches(t *testing.T) map[string]float64 {
	t.Helper()
	raw, err := kube.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctxFor(t, 10*time.Second))
	if err != nil {
		t.Fatalf("the API server's metrics: %v", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, m := range mfs["apiserver_longrunning_requests"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		switch r := labels["resource"]; {
		case labels["verb"] != "WATCH":
		case (r == "services" || r == "endpointslices" || r == "ingresses") && m.GetGauge().GetValue() > 0:
			out[r] += m.GetGauge().GetValue()
		}
	}
	return out
}

// Two kubesvc instances with the same connection share their informers:
// the split horizon's two server blocks keep as many watches open on the
// API server as its first block alone (one per resource and selector), by
// the API server's own count.
func TestSplitHorizonListsAndWatchesOnce(t *testing.T) {
	suite(t)
	kc := overlayUser(t, "kubesvc-coredns-ingresses", "deploy/overlays/external-zone/rbac-ingresses.yaml")
	baseline := openWatches(t)
	watches := map[bool]map[string]float64{}
	for _, single := range []bool{true, false} {
		srv := startCoreDNS(t, fmt.Sprintf("split-single-%v", single), corednsBin, kc, func(p coredns.Ports, kc string) string {
			return coredns.SplitHorizonCorefile(p, kc, single)
		})
		if err := srv.WaitReady(ctxFor(t, 60*time.Second)); err != nil {
			t.Fatal(err)
		}
		src := outsideIP // the outside face, the second block's
		if single {
			src = insideIP
		}
		eventually(t, 30*time.Second, "example.com answers", answersFrom(src, srv.Ports.DNSAddr(), "example.com.", dns.TypeSOA, want{anyAnswer: true, check: nonEmpty}))
		time.Sleep(time.Second) // a second instance's watches would be open by now
		watches[single] = map[string]float64{}
		for r, n := range openWatches(t) {
			if n > baseline[r] {
				watches[single][r] = n - baseline[r]
			}
		}
		if err := srv.Stop(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the server's watches closed", func() (bool, string) {
			now := openWatches(t)
			return maps.Equal(now, baseline), fmt.Sprintf("open watches %v, before %v", now, baseline)
		})
	}
	t.Logf("watches kubesvc opened: %v with two instances, %v with one", watches[false], watches[true])
	want := map[string]float64{"services": 1, "endpointslices": 2, "ingresses": 1}
	if !maps.Equal(watches[true], want) || !maps.Equal(watches[false], want) {
		t.Errorf("watches kubesvc opened: %v with two instances, %v with one; want %v for both", watches[false], watches[true], want)
	}
}
