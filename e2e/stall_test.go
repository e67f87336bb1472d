package e2e

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/kubesvc/kubesvc/e2e/coredns"
)

// How soon kubesvc must notice a connection that went silent: it closes a
// busy watch's HTTP/1.1 connection (Services', EndpointSlices') after 45 s
// without a byte (busywatch.go), as soon as client-go drops a silent HTTP/2
// connection (a ping after 30 s, 15 s to answer). With time to watch again
// and answer.
const busyDropped = 45*time.Second + 20*time.Second

// TestStalledAPIConnectionsAreDroppedAndWatchesResume stalls every
// connection kubesvc has to the API server, without closing any, as a path
// that dies without a reset does (a lost NAT entry, a load balancer whose
// backend died), and then changes a Service and an EndpointSlice. kubesvc
// must notice on the HTTP/1.1 connections of its busy watches (Services,
// EndpointSlices), which have no health check of their own, watch again and
// answer with both changes.
func TestStalledAPIConnectionsAreDroppedAndWatchesResume(t *testing.T) {
	suite(t)
	t.Parallel()
	const ns = "e2e-stall"
	namespace(t, ns)
	createService(t, headlessService(ns, "web", "http", 80))
	createSlice(t, slice(ns, "web-a", "web", "http", 80, ep{ip: "10.70.0.1"}))
	proxy := ownProxy(t)
	srv := ownCoreDNS(t, "stall", proxy.URL(), coredns.E2ECorefile)
	if err := srv.WaitReady(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	addr := srv.Ports.DNSAddr()
	web := "web." + ns + ".svc.cluster.local."
	eventually(t, 10*time.Second, web+" before the stall", answers(addr, web, dns.TypeA, want{answer: []string{web + " 30 IN A 10.70.0.1"}}))

	proxy.Stall()
	stalled := time.Now()
	createSlice(t, slice(ns, "web-b", "web", "http", 80, ep{ip: "10.70.0.2"}))
	late := "late." + ns + ".svc.cluster.local."
	lateIP := createService(t, clusterIPService(ns, "late", "http", 80)).Spec.ClusterIP

	svcTook := eventually(t, busyDropped, late+" (a Service created after the stall)",
		answers(addr, late, dns.TypeA, want{answer: []string{late + " 30 IN A " + lateIP}}))
	sliceTook := eventually(t, busyDropped-time.Since(stalled), web+" with the EndpointSlice created after the stall",
		answers(addr, web, dns.TypeA, want{answer: []string{web + " 30 IN A 10.70.0.1", web + " 30 IN A 10.70.0.2"}}))
	t.Logf("after the stall: the Service answered in %s, the EndpointSlice in %s",
		svcTook.Round(time.Second), (svcTook + sliceTook).Round(time.Second))
}
