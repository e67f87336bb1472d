package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubesvc/kubesvc/e2e/coredns"
	"github.com/miekg/dns"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const metricReturns = "coredns_kubesvc_memory_returns_total"

// scrape is what srv's prometheus plugin exposes.
func scrape(t *testing.T, srv *coredns.Server) coredns.Metrics {
	t.Helper()
	m, err := coredns.Scrape(scrapeClient, srv.Ports.MetricsURL())
	if err != nil {
		t.Fatalf("scrape %s: %v", srv.Ports.MetricsURL(), err)
	}
	return m
}

// createServicesAtOnce creates n ClusterIP services named <prefix>-<i> in
// ns from 8 clients at once, and deletes them (as fast) when t ends.
func createServicesAtOnce(t *testing.T, ns, prefix string, n int) {
	t.Helper()
	each := func(do func(name string) error) error {
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			first error
		)
		next := make(chan int)
		for range 8 {
			wg.Go(func() {
				for i := range next {
					if err := do(fmt.Sprintf("%s-%d", prefix, i)); err != nil {
						mu.Lock()
						first = cmpErr(first, err)
						mu.Unlock()
					}
				}
			})
		}
		for i := range n {
			next <- i
		}
		close(next)
		wg.Wait()
		return first
	}
	t.Cleanup(func() {
		_ = each(func(name string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := kube.Client.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete service %s/%s: %v", ns, name, err)
			}
			return nil
		})
	})
	if err := each(func(name string) error {
		_, err := kube.Client.CoreV1().Services(ns).Create(ctxFor(t, 30*time.Second), clusterIPService(ns, name, "http", 80), metav1.CreateOptions{})
		return err
	}); err != nil {
		t.Fatalf("create %d services in %s: %v", n, ns, err)
	}
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// A burst of change (here 3,000 services created at once) leaves garbage
// that the collector's goal and the runtime's scavenger would keep resident
// until long after it ended: once it goes quiet, kubesvc collects it and
// gives the heap's free pages back to the OS, once, and then leaves a quiet
// server alone.
func TestMemoryReturnedOnceABurstOfChangeEnds(t *testing.T) {
	suite(t)
	const ns, n = "e2e-memory", 3000
	namespace(t, ns)
	// Its own server, serving only this namespace: other tests' changes
	// would make bursts of their own.
	srv := ownCoreDNS(t, "memory", "", func(p coredns.Ports, kc string) string {
		return strings.Replace(coredns.E2ECorefile(p, kc), "pods insecure", "pods insecure\n        namespaces "+ns, 1)
	})
	if err := srv.WaitReady(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	addr := srv.Ports.DNSAddr()
	// Ready once the index is published; the first list's garbage is
	// returned just after.
	eventually(t, 5*time.Second, "the first sync's return", func() (bool, string) {
		got := scrape(t, srv).Sum(metricReturns)
		return got == 1, fmt.Sprintf("%s = %v, want 1", metricReturns, got)
	})

	allocs0 := scrape(t, srv).Sum("go_memstats_alloc_bytes_total")
	start := time.Now()
	createServicesAtOnce(t, ns, "burst", n)
	last := fmt.Sprintf("burst-%d.%s.svc.cluster.local.", n-1, ns)
	eventually(t, 30*time.Second, "the burst's last service answered", answers(addr, last, dns.TypeA, want{anyAnswer: true}))
	end := scrape(t, srv)
	t.Logf("%d services created and answered in %v; %.0f KiB allocated", n, time.Since(start).Round(time.Millisecond),
		(end.Sum("go_memstats_alloc_bytes_total")-allocs0)/1024)

	// Scraped every 2 s: a scrape allocates (about 100 KiB), and more
	// would keep the server from going quiet. A pause of the API server
	// may have ended the burst early once already: the returns are done
	// when two scrapes 4 s apart see the same count.
	seen := []float64{end.Sum(metricReturns)}
	var now coredns.Metrics
	for deadline := time.Now().Add(20 * time.Second); ; {
		time.Sleep(2 * time.Second)
		now = scrape(t, srv)
		seen = append(seen, now.Sum(metricReturns))
		if k := len(seen); k >= 3 && seen[k-1] == seen[k-3] && seen[k-1] > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s every 2 s from the burst's end: %v; want a rise past 1 (the first sync's return), then 4 s with no more (a quiet server is left alone)", metricReturns, seen)
		}
	}
	rss0, rss1 := end.Sum("process_resident_memory_bytes"), now.Sum("process_resident_memory_bytes")
	inuse0, inuse1 := end.Sum("go_memstats_heap_inuse_bytes"), now.Sum("go_memstats_heap_inuse_bytes")
	t.Logf("%s every 2 s from the burst's end: %v; heap in use %.0f -> %.0f KiB, resident %.0f -> %.0f KiB",
		metricReturns, seen, inuse0/1024, inuse1/1024, rss0/1024, rss1/1024)
	if r, err := ask(addr, "udp", last, dns.TypeA, true); err != nil || len(r.Answer) == 0 {
		t.Errorf("%s after the return: %v %v", last, r, err)
	}
}
