package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// setExternalName changes a Service's externalName.
func setExternalName(t *testing.T, ns, name, target string) {
	t.Helper()
	// Not t.Context(): this also runs in cleanups, after it is canceled.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := kube.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.ExternalName = target
		_, err = kube.Client.CoreV1().Services(ns).Update(ctx, s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set %s/%s externalName to %s: %v", ns, name, target, err)
	}
}

func TestExternalNameUpdate(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const name = "weather-ext-svc.default.svc.cluster.local."
	wttr := want{
		first:  name + " 30 IN CNAME wttr.in.",
		answer: []string{name + " 30 IN CNAME wttr.in.", "wttr.in. * IN A 5.9.243.187"},
	}
	google := want{
		first:  name + " 30 IN CNAME www.google.com.",
		answer: []string{name + " 30 IN CNAME www.google.com.", "www.google.com. * IN A 172.217.31.132"},
	}
	for _, proto := range protos {
		expect(t, query(t, addr, proto, name, dns.TypeA), wttr)
	}
	if t.Failed() {
		t.FailNow()
	}

	t.Cleanup(func() {
		setExternalName(t, "default", "weather-ext-svc", "wttr.in")
		eventually(t, 5*time.Second, "weather-ext-svc back to wttr.in", answers(addr, name, dns.TypeA, wttr))
	})
	setExternalName(t, "default", "weather-ext-svc", "www.google.com")
	updated := time.Now()
	var last *dns.Msg
	var took time.Duration
	for {
		r, err := ask(addr, "udp", name, dns.TypeA, true)
		if err == nil {
			last = r
			if len(google.verify(r)) == 0 {
				took = time.Since(updated)
				break
			}
		}
		if time.Since(updated) > 3*time.Second {
			t.Fatalf("3 s after the update the answer still is not CNAME www.google.com. + A 172.217.31.132; last response:\n%v", last)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("externalName change answered %s after the update returned", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("externalName change took %s to show, want within 1s", took.Round(time.Millisecond))
	}
	for _, proto := range protos {
		expect(t, query(t, addr, proto, name, dns.TypeA), google)
	}
}

func TestExternalNameEdgeCases(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const ns = "e2e-extname"
	namespace(t, ns)
	fq := func(svc string) string { return svc + "." + ns + ".svc.cluster.local." }
	createService(t, externalNameService(ns, "loop-a", "loop-b."+ns+".svc.cluster.local"))
	createService(t, externalNameService(ns, "loop-b", "loop-a."+ns+".svc.cluster.local"))
	createService(t, externalNameService(ns, "loop-self", "loop-self."+ns+".svc.cluster.local"))
	createService(t, externalNameService(ns, "ip-target", "1.2.3.4"))
	// Events of one informer arrive in order: once the sentinel (created
	// last) answers, the services above have been seen too.
	sentinel := createService(t, clusterIPService(ns, "sentinel", "", 80))
	eventually(t, 5*time.Second, "sentinel service answered", answers(addr, fq("sentinel"), dns.TypeA,
		want{answer: []string{fq("sentinel") + " 30 IN A " + sentinel.Spec.ClusterIP}}))

	loops := []struct{ svc, target string }{
		{"loop-a", fq("loop-b")},
		{"loop-b", fq("loop-a")},
		{"loop-self", fq("loop-self")},
	}
	for _, l := range loops {
		for _, proto := range protos {
			t.Run(l.svc+"/"+proto, func(t *testing.T) {
				cname := fq(l.svc) + " 30 IN CNAME " + l.target
				// CNAME asked for: the CNAME alone.
				expect(t, query(t, addr, proto, fq(l.svc), dns.TypeCNAME), want{answer: []string{cname}})
				// A asked for: prompt NOERROR starting with the CNAME chain, no address.
				start := time.Now()
				r, err := ask(addr, proto, fq(l.svc), dns.TypeA, true)
				took := time.Since(start)
				if err != nil {
					t.Fatalf("after %s: %v", took.Round(time.Millisecond), err)
				}
				t.Logf("loop answered in %s with %d records", took.Round(time.Millisecond), len(r.Answer))
				if took > time.Second {
					t.Errorf("loop took %s to answer, want well under 2s", took.Round(time.Millisecond))
				}
				expect(t, r, want{first: cname, anyAnswer: true, check: func(r *dns.Msg) error {
					for _, rr := range r.Answer {
						if rr.Header().Rrtype != dns.TypeCNAME {
							return fmt.Errorf("non-CNAME record %s in a loop's answer", rr)
						}
					}
					return nil
				}})
			})
		}
	}
	for _, proto := range protos {
		t.Run("ip-target/"+proto, func(t *testing.T) {
			expect(t, query(t, addr, proto, fq("ip-target"), dns.TypeA), nxDomain)
		})
	}
}
