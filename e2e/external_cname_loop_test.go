package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A name whose CNAME leads back to itself (any tenant can annotate its
// Service so: the target annotation is the outside face, a load balancer's
// host name the inside one) is answered with its CNAME, not chased through
// the server's plugin chain without end: the process stays up, and the
// cluster's own zone, served by the same process, keeps answering.
func TestExternalCNAMELoopIsAnsweredNotChasedForever(t *testing.T) {
	suite(t)
	ctx := context.Background()
	loop := loadBalancerService("default", "loop")
	loop.Annotations = map[string]string{
		"external-dns.alpha.kubernetes.io/hostname": "loop.example.com",
		"external-dns.alpha.kubernetes.io/target":   "loop.example.com",
	}
	t.Cleanup(func() { _ = kube.Client.CoreV1().Services("default").Delete(ctx, "loop", metav1.DeleteOptions{}) })
	setLoadBalancer(t, createService(t, loop), "loop.default.example.com") // its own stock name
	srv := startSplitHorizon(t)
	addr := srv.Ports.DNSAddr()
	cname := func(name, target string) want {
		return want{anyAnswer: true, check: func(r *dns.Msg) error {
			for _, rr := range r.Answer {
				if c, ok := rr.(*dns.CNAME); ok && c.Hdr.Name == name && c.Target == target {
					return nil
				}
			}
			return fmt.Errorf("no CNAME %s -> %s", name, target)
		}}
	}
	for _, c := range []struct {
		src, name, target string
	}{
		{outsideIP, "loop.example.com.", "loop.example.com."},
		{insideIP, "loop.default.example.com.", "loop.default.example.com."},
		{insideIP, "loop.example.com.", "loop.default.example.com."},
	} {
		eventually(t, 10*time.Second, c.name+" from "+c.src, answersFrom(c.src, addr, c.name, dns.TypeA, cname(c.name, c.target)))
	}
	select {
	case <-srv.Exited():
		t.Fatalf("coredns exited: %v\n%s", srv.ExitErr(), tail(srv.Log(), 3000))
	default:
	}
	eventually(t, 5*time.Second, "the cluster zone after the loops", answersFrom(insideIP, addr, "kubernetes.default.svc.cluster.local.", dns.TypeA, want{anyAnswer: true, check: nonEmpty}))
}
