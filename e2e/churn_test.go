package e2e

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	churnDuration = 20 * time.Second // how long the workers keep changing things
	churnWorkers  = 4
	churnQueriers = 2
	// churnVisible bounds how long a change may take to show in DNS.
	churnVisible = 2 * time.Second
)

// churnName is a name the queriers may check: its incarnation id (a new one
// per create) and the address sets it may answer right now (more than one
// while an update is on its way).
type churnName struct {
	name   string
	id     uint64
	accept [][]string
}

// board holds the names "known to exist": from the moment the worker saw its
// create answered until the moment before it issues the delete.
type board struct {
	mu     sync.Mutex
	names  map[string]*churnName
	nextID uint64
}

func (b *board) set(name string, accept ...[]string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.names[name]
	if n == nil {
		b.nextID++
		n = &churnName{name: name, id: b.nextID}
		b.names[name] = n
	}
	n.accept = accept
}

func (b *board) drop(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.names, name)
}

func (b *board) get(name string) (churnName, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.names[name]
	if n == nil {
		return churnName{}, false
	}
	return churnName{n.name, n.id, slices.Clone(n.accept)}, true
}

func (b *board) pick(r *rand.Rand) (churnName, bool) {
	b.mu.Lock()
	keys := make([]string, 0, len(b.names))
	for k := range b.names {
		keys = append(keys, k)
	}
	b.mu.Unlock()
	if len(keys) == 0 {
		return churnName{}, false
	}
	sort.Strings(keys)
	return b.get(keys[r.IntN(len(keys))])
}

// tally counts outcomes by label and keeps the first problems.
type tally struct {
	mu       sync.Mutex
	counts   map[string]int
	problems []string
	nProblem int
}

func newTally() *tally { return &tally{counts: map[string]int{}} }

func (t *tally) add(label string) {
	t.mu.Lock()
	t.counts[label]++
	t.mu.Unlock()
}

func (t *tally) problem(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nProblem++
	if len(t.problems) < 10 {
		t.problems = append(t.problems, fmt.Sprintf(format, args...))
	}
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-34s %d\n", k, t.counts[k])
	}
	return b.String()
}

func inSets(got []string, sets [][]string) bool {
	return slices.ContainsFunc(sets, func(s []string) bool { return slices.Equal(s, got) })
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestChurn creates, updates and deletes services and slices while queriers
// ask for the names known to exist: those must never get NXDOMAIN, SERVFAIL
// or a wrong address. Every change must show within churnVisible.
func TestChurn(t *testing.T) {
	srv := suite(t)
	addr := srv.Ports.DNSAddr()
	const ns = "e2e-churn"
	namespace(t, ns)

	b := &board{names: map[string]*churnName{}}
	queries := newTally() // by the queriers, for known names
	changes := newTally() // by the workers: visibility of their changes
	var maxVisible atomic.Int64

	stop := make(chan struct{})
	var qwg sync.WaitGroup
	for q := range churnQueriers {
		qwg.Add(1)
		go func() {
			defer qwg.Done()
			r := rand.New(rand.NewPCG(uint64(q), 42))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				before, ok := b.pick(r)
				if !ok {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				proto := protos[i%2]
				resp, err := ask(addr, proto, before.name, dns.TypeA, true)
				after, still := b.get(before.name)
				if !still || after.id != before.id {
					queries.add("raced-with-delete")
					continue
				}
				if err != nil {
					queries.add(proto + "/error")
					queries.problem("%s over %s: %v", before.name, proto, err)
					continue
				}
				queries.add(proto + "/" + dns.RcodeToString[resp.Rcode])
				got := addrs(resp.Answer)
				if resp.Rcode != dns.RcodeSuccess || !inSets(got, append(before.accept, after.accept...)) {
					queries.problem("%s over %s: want one of %v, got %s %v\n%s",
						before.name, proto, append(before.accept, after.accept...), dns.RcodeToString[resp.Rcode], got, resp)
				}
				time.Sleep(time.Duration(r.IntN(10)) * time.Millisecond)
			}
		}()
	}

	// waitFor polls (UDP) until name answers set (nil: NXDOMAIN). Answers
	// other than the old sets, the new one or NXDOMAIN-while-creating are
	// problems.
	waitFor := func(name string, set []string, old ...[]string) {
		start := time.Now()
		pending := len(old) == 0 || set == nil // a create or a delete
		for {
			resp, err := ask(addr, "udp", name, dns.TypeA, true)
			if err == nil {
				got := addrs(resp.Answer)
				switch {
				case set == nil && resp.Rcode == dns.RcodeNameError,
					set != nil && resp.Rcode == dns.RcodeSuccess && slices.Equal(got, set):
					d := time.Since(start)
					for {
						m := maxVisible.Load()
						if int64(d) <= m || maxVisible.CompareAndSwap(m, int64(d)) {
							break
						}
					}
					changes.add("visible")
					return
				case resp.Rcode == dns.RcodeSuccess && inSets(got, old):
					// the change is on its way
				case pending && (resp.Rcode == dns.RcodeNameError || resp.Rcode == dns.RcodeSuccess && len(got) == 0):
					// not created yet / already gone (or a headless
					// service seen without its slices)
				default:
					changes.problem("%s: while waiting for %v (old %v): %s %v\n%s", name, set, old, dns.RcodeToString[resp.Rcode], got, resp)
				}
			}
			if time.Since(start) > churnVisible {
				changes.add("not-visible")
				changes.problem("%s: not %v within %s", name, set, churnVisible)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	ctx := ctxFor(t, churnDuration+time.Minute)
	deadline := time.Now().Add(churnDuration)
	var wwg sync.WaitGroup
	var failed atomic.Bool
	for w := range churnWorkers {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			pause := func() { time.Sleep(time.Duration(20+r.IntN(80)) * time.Millisecond) }
			try := func(what string, err error) bool {
				if err != nil {
					changes.problem("worker %d: %s: %v", w, what, err)
					failed.Store(true)
				}
				return err == nil
			}
			svcs := kube.Client.CoreV1().Services(ns)
			sliceAPI := kube.Client.DiscoveryV1().EndpointSlices(ns)
			for gen := 0; time.Now().Before(deadline) && !failed.Load(); gen++ {
				if gen%2 == 0 { // ClusterIP service: the address never changes
					svcName := fmt.Sprintf("c%d-%d", w, gen)
					fqdn := svcName + "." + ns + ".svc.cluster.local."
					s, err := svcs.Create(ctx, clusterIPService(ns, svcName, "http", 80), metav1.CreateOptions{})
					if !try("create "+svcName, err) {
						return
					}
					set := []string{s.Spec.ClusterIP}
					waitFor(fqdn, set)
					b.set(fqdn, set)
					pause()
					s.Labels = map[string]string{"gen": fmt.Sprint(gen)}
					s.Spec.Ports[0].Port = 81
					if _, err := svcs.Update(ctx, s, metav1.UpdateOptions{}); !try("update "+svcName, err) {
						return
					}
					pause()
					sl := slice(ns, svcName+"-x", svcName, "http", 80, ep{ip: fmt.Sprintf("10.2.%d.%d", w, gen%250+1)})
					if _, err := sliceAPI.Create(ctx, sl, metav1.CreateOptions{}); !try("create slice", err) {
						return
					}
					pause()
					if err := sliceAPI.Delete(ctx, sl.Name, metav1.DeleteOptions{}); !try("delete slice", err) {
						return
					}
					pause()
					b.drop(fqdn)
					if err := svcs.Delete(ctx, svcName, metav1.DeleteOptions{}); !try("delete "+svcName, err) {
						return
					}
					waitFor(fqdn, nil, set)
					continue
				}
				// Headless service: the addresses follow its slices.
				svcName := fmt.Sprintf("h%d-%d", w, gen)
				fqdn := svcName + "." + ns + ".svc.cluster.local."
				ip := func(i int) string { return fmt.Sprintf("10.3.%d.%d", w*10+gen%10, i) }
				if _, err := svcs.Create(ctx, headlessService(ns, svcName, "http", 80), metav1.CreateOptions{}); !try("create "+svcName, err) {
					return
				}
				s1 := slice(ns, svcName+"-a", svcName, "http", 80, ep{ip: ip(1)}, ep{ip: ip(2)})
				if _, err := sliceAPI.Create(ctx, s1, metav1.CreateOptions{}); !try("create slice a", err) {
					return
				}
				setA := sorted(ip(1), ip(2))
				waitFor(fqdn, setA)
				b.set(fqdn, setA)
				pause()
				// Replace the endpoints.
				s1.Endpoints = slice(ns, "", "", "", 0, ep{ip: ip(3)}, ep{ip: ip(4)}).Endpoints
				setB := sorted(ip(3), ip(4))
				b.set(fqdn, setA, setB)
				if _, err := sliceAPI.Update(ctx, s1, metav1.UpdateOptions{}); !try("update slice a", err) {
					return
				}
				waitFor(fqdn, setB, setA)
				b.set(fqdn, setB)
				pause()
				// Add a second slice.
				s2 := slice(ns, svcName+"-b", svcName, "http", 80, ep{ip: ip(5)})
				setC := sorted(ip(3), ip(4), ip(5))
				b.set(fqdn, setB, setC)
				if _, err := sliceAPI.Create(ctx, s2, metav1.CreateOptions{}); !try("create slice b", err) {
					return
				}
				waitFor(fqdn, setC, setB)
				b.set(fqdn, setC)
				pause()
				// Remove it again.
				b.set(fqdn, setC, setB)
				if err := sliceAPI.Delete(ctx, s2.Name, metav1.DeleteOptions{}); !try("delete slice b", err) {
					return
				}
				waitFor(fqdn, setB, setC)
				b.set(fqdn, setB)
				pause()
				b.drop(fqdn)
				if err := sliceAPI.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{
					LabelSelector: discoveryv1.LabelServiceName + "=" + svcName,
				}); !try("delete slices", err) {
					return
				}
				if err := svcs.Delete(ctx, svcName, metav1.DeleteOptions{}); !try("delete "+svcName, err) {
					return
				}
				waitFor(fqdn, nil, setB)
			}
		}()
	}
	wwg.Wait()
	close(stop)
	qwg.Wait()

	t.Logf("churn for %s: queries for names known to exist, by protocol/rcode:\n%s", churnDuration, queries)
	t.Logf("changes seen by the workers (slowest took %s to show):\n%s",
		time.Duration(maxVisible.Load()).Round(time.Millisecond), changes)
	if queries.nProblem > 0 {
		t.Errorf("%d queries for names known to exist got a wrong answer; first ones:\n%s",
			queries.nProblem, strings.Join(queries.problems, "\n---\n"))
	}
	if changes.nProblem > 0 {
		t.Errorf("%d problems while changes propagated; first ones:\n%s",
			changes.nProblem, strings.Join(changes.problems, "\n---\n"))
	}
	if queries.counts["udp/NOERROR"]+queries.counts["tcp/NOERROR"] == 0 {
		t.Errorf("no query checked a known name: the churn test tested nothing")
	}
}
