package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// soaSerial asks addr for the cluster.local. SOA and returns its serial.
func soaSerial(t *testing.T, addr string) uint32 {
	t.Helper()
	r := query(t, addr, "udp", "cluster.local.", dns.TypeSOA)
	if len(r.Answer) != 1 {
		t.Fatalf("cluster.local. SOA: want one SOA record, got %v", r.Answer)
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		t.Fatalf("cluster.local. SOA: got %v", r.Answer[0])
	}
	return soa.Serial
}

// An EndpointSlice change behind a ClusterIP service changes no answer, so
// it must not move the zone's SOA serial (the serial is in seconds, so the
// moves span more than two of them); a change that does, moves it.
func TestSOASerialIgnoresEndpointMovesBehindClusterIP(t *testing.T) {
	suite(t)
	const ns = "e2e-serial"
	namespace(t, ns)
	// Its own server, serving only this namespace: other tests' changes
	// move the shared server's serial.
	srv := ownCoreDNS(t, "serial", "", func(p coredns.Ports, kc string) string {
		return strings.Replace(coredns.E2ECorefile(p, kc), "pods insecure", "pods insecure\n        namespaces "+ns, 1)
	})
	if err := srv.WaitReady(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	addr := srv.Ports.DNSAddr()
	createService(t, clusterIPService(ns, "web", "http", 80))
	sl := createSlice(t, slice(ns, "web-x", "web", "http", 80, ep{ip: "10.9.0.1"}, ep{ip: "10.9.0.2"}))
	name := "web." + ns + ".svc.cluster.local."
	eventually(t, 10*time.Second, "web answered", answers(addr, name, dns.TypeA, want{anyAnswer: true}))

	before := soaSerial(t, addr)
	for i := range 6 {
		sl.Endpoints[0].Addresses = []string{fmt.Sprintf("10.9.1.%d", i+1)}
		var err error
		if sl, err = kube.Client.DiscoveryV1().EndpointSlices(ns).Update(ctxFor(t, 10*time.Second), sl, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("move an endpoint of web: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if after := soaSerial(t, addr); after != before {
		t.Errorf("SOA serial moved from %d to %d over 6 endpoint moves behind a ClusterIP service, which change no answer", before, after)
	}

	createService(t, clusterIPService(ns, "web2", "http", 80))
	eventually(t, 10*time.Second, "a new service moves the serial", func() (bool, string) {
		s := soaSerial(t, addr)
		return s != before, fmt.Sprintf("serial still %d", s)
	})
}
