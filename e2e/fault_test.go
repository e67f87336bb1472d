package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/kubesvc/kubesvc/e2e/coredns"
)

const (
	// outageDuration is how long TestAPIOutage keeps the API unreachable.
	outageDuration = 30 * time.Second
	// outageCatchUp bounds how long after the API comes back a change made
	// during the outage may take to show.
	outageCatchUp = 2 * time.Second
	// startupProbe is how long TestStartupWithoutAPI queries before the API
	// becomes reachable, and startupRecover how long it may then take to
	// become ready and answer.
	startupProbe   = 3 * time.Second
	startupRecover = 5 * time.Second
)

// knownChecks are seeded names whose answers no test changes.
func knownChecks() []recordCase {
	const ip = "sample-clusterip.default.svc.cluster.local."
	const hl = "sample-headless.default.svc.cluster.local."
	const ext = "sample-externalname.default.svc.cluster.local."
	return []recordCase{
		{"clusterip-A", ip, dns.TypeA, want{answer: []string{ip + " 30 IN A 10.96.246.109"}}},
		{"clusterip-SRV", "_http-port._tcp." + ip, dns.TypeSRV, want{
			answer: []string{"_http-port._tcp." + ip + " 30 IN SRV 0 100 8080 " + ip},
		}},
		{"clusterip-PTR", "109.246.96.10.in-addr.arpa.", dns.TypePTR, want{
			answer: []string{"109.246.96.10.in-addr.arpa. 30 IN PTR " + ip},
		}},
		{"headless-A", hl, dns.TypeA, want{answer: []string{hl + " 30 IN A 10.0.1.2", hl + " 30 IN A 10.0.1.3", hl + " 30 IN A 10.0.1.4"}}},
		{"externalname-CNAME", ext, dns.TypeCNAME, want{answer: []string{ext + " 30 IN CNAME example.com."}}},
		{"nxdomain", "nope.default.svc.cluster.local.", dns.TypeA, nxDomain},
	}
}

// TestStartupWithoutAPI starts CoreDNS while the API server is unreachable:
// it must answer SERVFAIL (never NXDOMAIN: it knows nothing yet) and not be
// ready, then become ready and answer once the API is back.
func TestStartupWithoutAPI(t *testing.T) {
	suite(t)
	t.Parallel()
	proxy := ownProxy(t)
	proxy.Cut()
	srv := ownCoreDNS(t, "startup", proxy.URL(), coredns.E2ECorefile)
	if err := srv.WaitServing(ctxFor(t, 20*time.Second)); err != nil {
		t.Fatalf("with the API unreachable: %v", err)
	}
	addr := srv.Ports.DNSAddr()
	const name = "sample-clusterip.default.svc.cluster.local."
	synced := want{answer: []string{name + " 30 IN A 10.96.246.109"}}

	before := newTally()
	readyCodes := map[int]int{}
	for i, end := 0, time.Now().Add(startupProbe); time.Now().Before(end); i++ {
		proto := protos[i%2]
		r, err := ask(addr, proto, name, dns.TypeA, true)
		if err != nil {
			before.add(proto + "/error")
			before.problem("%v", err)
		} else {
			before.add(proto + "/" + dns.RcodeToString[r.Rcode])
			if r.Rcode != dns.RcodeServerFailure {
				before.problem("before the API was reachable got %s, want SERVFAIL:\n%s", dns.RcodeToString[r.Rcode], r)
			}
		}
		if i%10 == 0 {
			code, _ := srv.ReadyStatus()
			readyCodes[code]++
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("API unreachable for %s: queries by protocol/rcode:\n%s/ready status codes: %v (0: no answer)", startupProbe, before, readyCodes)
	if before.nProblem > 0 {
		t.Errorf("%d wrong answers while the API was unreachable; first ones:\n%s", before.nProblem, strings.Join(before.problems, "\n---\n"))
	}
	if readyCodes[http.StatusOK] > 0 {
		t.Errorf("/ready returned 200 %d times before CoreDNS could have synced", readyCodes[http.StatusOK])
	}

	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	after := newTally()
	var readyAt, answeredAt time.Duration
	for i := 0; readyAt == 0 || answeredAt == 0; i++ {
		if time.Since(restored) > startupRecover+10*time.Second {
			break
		}
		proto := protos[i%2]
		r, err := ask(addr, proto, name, dns.TypeA, true)
		if err == nil {
			after.add(proto + "/" + dns.RcodeToString[r.Rcode])
			switch {
			case len(synced.verify(r)) == 0:
				if answeredAt == 0 {
					answeredAt = time.Since(restored)
				}
			case r.Rcode == dns.RcodeServerFailure && answeredAt == 0:
			default:
				after.problem("after the API came back got:\n%s", r)
			}
		}
		if code, err := srv.ReadyStatus(); err == nil && code == http.StatusOK && readyAt == 0 {
			readyAt = time.Since(restored)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("after the API came back: ready after %s, answered after %s; queries by protocol/rcode:\n%s",
		readyAt.Round(time.Millisecond), answeredAt.Round(time.Millisecond), after)
	if readyAt == 0 || readyAt > startupRecover {
		t.Errorf("/ready not 200 within %s of the API coming back (took %s; 0: never)", startupRecover, readyAt.Round(time.Millisecond))
	}
	if answeredAt == 0 || answeredAt > startupRecover {
		t.Errorf("%s not answered within %s of the API coming back (took %s; 0: never)", name, startupRecover, answeredAt.Round(time.Millisecond))
	}
	if after.nProblem > 0 {
		t.Errorf("%d wrong answers after the API came back; first ones:\n%s", after.nProblem, strings.Join(after.problems, "\n---\n"))
	}
	for _, proto := range protos {
		expect(t, query(t, addr, proto, name, dns.TypeA), synced)
	}
}

// TestAPIOutage cuts a synced CoreDNS off the API for outageDuration: known
// names must keep their answers, and a service created meanwhile must show
// within outageCatchUp of the API coming back.
func TestAPIOutage(t *testing.T) {
	suite(t)
	t.Parallel()
	const ns = "e2e-outage"
	namespace(t, ns)
	proxy := ownProxy(t)
	srv := ownCoreDNS(t, "outage", proxy.URL(), coredns.E2ECorefile)
	if err := srv.WaitReady(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	addr := srv.Ports.DNSAddr()
	checks := knownChecks()
	for _, c := range checks {
		for _, proto := range protos {
			r := query(t, addr, proto, c.qname, c.qtype)
			if errs := c.want.verify(r); len(errs) > 0 {
				t.Fatalf("%s over %s before the outage: %s\n%s", c.name, proto, strings.Join(errs, "; "), r)
			}
		}
	}

	counts := newTally()
	probe := func(i int) {
		c := checks[i%len(checks)]
		proto := protos[(i/len(checks))%2]
		r, err := ask(addr, proto, c.qname, c.qtype, true)
		if err != nil {
			counts.add(proto + "/error")
			counts.problem("%s: %v", c.name, err)
			return
		}
		label := proto + "/" + dns.RcodeToString[r.Rcode]
		if c.want.rcode == dns.RcodeNameError {
			label = "nonexistent-name " + label // must stay NXDOMAIN
		}
		counts.add(label)
		if errs := c.want.verify(r); len(errs) > 0 {
			counts.problem("%s over %s at %s: %s\n%s", c.name, proto, time.Now().Format("15:04:05.000"), strings.Join(errs, "; "), r)
		}
	}

	proxy.Cut()
	cutAt := time.Now()
	t.Logf("API cut at %s for %s", cutAt.Format("15:04:05.000"), outageDuration)
	created := false
	readyCodes := map[int]int{}
	newName := "outage-new." + ns + ".svc.cluster.local."
	var newIP string
	for i := 0; time.Since(cutAt) < outageDuration; i++ {
		probe(i)
		if !created && time.Since(cutAt) > 2*time.Second {
			newIP = createService(t, clusterIPService(ns, "outage-new", "http", 80)).Spec.ClusterIP
			created = true
		}
		if i%25 == 0 {
			code, _ := srv.ReadyStatus()
			readyCodes[code]++
		}
		time.Sleep(15 * time.Millisecond)
	}
	if err := proxy.Restore(); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	t.Logf("API back at %s", restored.Format("15:04:05.000"))
	newWant := want{answer: []string{newName + " 30 IN A " + newIP}}
	var took time.Duration
	var last *dns.Msg
	for i := 0; time.Since(restored) < outageCatchUp+40*time.Second; i++ {
		probe(i)
		if r, err := ask(addr, protos[i%2], newName, dns.TypeA, true); err == nil {
			last = r
			if len(newWant.verify(r)) == 0 {
				took = time.Since(restored)
				break
			}
		}
		time.Sleep(15 * time.Millisecond)
	}
	t.Logf("known names during and after the %s outage, by protocol/rcode:\n%s/ready during the outage: %v",
		outageDuration, counts, readyCodes)
	if counts.nProblem > 0 {
		t.Errorf("%d wrong answers for known names during the outage; first ones:\n%s",
			counts.nProblem, strings.Join(counts.problems, "\n---\n"))
	}
	switch {
	case took == 0:
		t.Errorf("%s (created during the outage) not answered %s after the API came back; last response:\n%v",
			newName, time.Since(restored).Round(time.Millisecond), last)
	case took > outageCatchUp:
		t.Errorf("%s (created during the outage) answered %s after the API came back, want within %s",
			newName, took.Round(time.Millisecond), outageCatchUp)
	default:
		t.Logf("%s (created during the outage) answered %s after the API came back", newName, took.Round(time.Millisecond))
	}
	for _, proto := range protos {
		expect(t, query(t, addr, proto, newName, dns.TypeA), newWant)
	}
}

// TestKubeadmCorefile runs kubeadm's default Corefile (kubesvc instead of
// kubernetes, cache, reload, lameduck...) and checks it starts and answers.
func TestKubeadmCorefile(t *testing.T) {
	suite(t)
	t.Parallel()
	srv := ownCoreDNS(t, "kubeadm", sharedProxy.URL(), coredns.KubeadmCorefile)
	if err := srv.WaitReady(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	const name = "sample-clusterip.default.svc.cluster.local."
	runCases(t, srv.Ports.DNSAddr(), []recordCase{
		{"clusterip-A", name, dns.TypeA, want{answer: []string{name + " 30 IN A 10.96.246.109"}}},
		{"externalname-A", "my-blog.test.svc.cluster.local.", dns.TypeA, want{
			first: "my-blog.test.svc.cluster.local. 30 IN CNAME blog.mosuke.tech.",
			answer: []string{
				"my-blog.test.svc.cluster.local. 30 IN CNAME blog.mosuke.tech.",
				"blog.mosuke.tech. * IN A 172.67.165.72",
				"blog.mosuke.tech. * IN A 104.21.57.182",
			},
		}},
	})
}
