package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubesvc/kubesvc/e2e/coredns"
)

// TestInvalidExternalNameWarnedOnce: a Service whose externalName cannot be
// a CNAME's target (an IP address) is warned of once, not again on each
// update that keeps the value; once more when the value changes.
func TestInvalidExternalNameWarnedOnce(t *testing.T) {
	srv := suite(t)
	const ns = "e2e-extwarn"
	namespace(t, ns)
	off := srv.LogLen()
	createService(t, externalNameService(ns, "ip-target", "10.9.8.7"))
	for i, label := range []string{"a", "b", "c"} {
		update(t, ns, "ip-target", func(s *corev1.Service) { s.Labels = map[string]string{"step": label} })
		if i == 1 {
			settled(t, srv, ns, "settled-1")
		}
	}
	settled(t, srv, ns, "settled-2")
	warnings := func(value string) int {
		return strings.Count(srv.LogSince(off), `service `+ns+`/ip-target: externalName "`+value+`" is not a DNS name`)
	}
	if n := warnings("10.9.8.7"); n != 1 {
		t.Errorf("after a creation and three updates keeping 10.9.8.7: %d warnings, want 1", n)
	}
	update(t, ns, "ip-target", func(s *corev1.Service) { s.Spec.ExternalName = "10.9.8.8" })
	update(t, ns, "ip-target", func(s *corev1.Service) { s.Labels = map[string]string{"step": "d"} })
	settled(t, srv, ns, "settled-3")
	if n, m := warnings("10.9.8.7"), warnings("10.9.8.8"); n != 1 || m != 1 {
		t.Errorf("after the value changed to 10.9.8.8 and one more update: %d warnings of 10.9.8.7 and %d of 10.9.8.8, want 1 and 1", n, m)
	}
}

// update changes a Service as change says.
func update(t *testing.T, ns, name string, change func(*corev1.Service)) {
	t.Helper()
	s := getService(t, ns, name)
	change(s)
	if _, err := kube.Client.CoreV1().Services(ns).Update(ctxFor(t, 10*time.Second), s, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update service %s/%s: %v", ns, name, err)
	}
}

// settled creates a Service and waits for its answer: the Service events
// before it have then been handled too (one informer, in order).
func settled(t *testing.T, srv *coredns.Server, ns, name string) {
	t.Helper()
	ip := createService(t, clusterIPService(ns, name, "http", 80)).Spec.ClusterIP
	qname := name + "." + ns + ".svc.cluster.local."
	eventually(t, 10*time.Second, qname, answers(srv.Ports.DNSAddr(), qname, dns.TypeA, want{answer: []string{qname + " 30 IN A " + ip}}))
}
