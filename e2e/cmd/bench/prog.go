package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The changes of the programming-latency phase, in the order each cycle makes
// them. Every name is new in its cycle, so a stale answer is never right.
var changeKinds = []string{"svc-create", "svc-update", "svc-delete", "slice-create", "slice-update", "slice-delete"}

// progResult holds the latencies of one server, by change kind.
type progResult struct {
	all    []time.Duration
	byKind map[string][]time.Duration
	missed int // changes not seen within the deadline
}

// progPhase makes n API writes, cycling through changeKinds, and after each
// measures, for every server at once, the time from the write returning to
// the first correct answer, polling every interval. A write is made only
// once every server shows the previous one. Halfway, after a whole cycle,
// it calls midway (the bench swaps the order of the servers' watches).
func progPhase(ctx context.Context, c kubernetes.Interface, servers []*running, n int, interval time.Duration, midway func() error, logf func(string, ...any)) (map[string]*progResult, error) {
	res := map[string]*progResult{}
	for _, s := range servers {
		res[s.kind.name] = &progResult{byKind: map[string][]time.Duration{}}
	}
	const ns = "bench-00"
	// The headless service whose EndpointSlices come and go.
	hl := service{ns: ns, name: "prog-headless", headless: true}
	if _, err := c.CoreV1().Services(ns).Create(ctx, svcObject(hl), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create %s/%s: %w", ns, hl.name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.CoreV1().Services(ns).Delete(dctx, hl.name, metav1.DeleteOptions{})
	}()

	var st progState
	start := time.Now()
	for i := range n {
		if i == progSwapAt(n) {
			if err := midway(); err != nil {
				return nil, err
			}
		}
		kindName := changeKinds[i%len(changeKinds)]
		want, err := st.change(ctx, c, hl, i)
		if err != nil {
			return nil, fmt.Errorf("change %d (%s): %w", i, kindName, err)
		}
		t0 := time.Now()
		lat := make([]time.Duration, len(servers))
		errs := make([]error, len(servers))
		var wg sync.WaitGroup
		for j, s := range servers {
			wg.Go(func() {
				at, err := waitCorrect(ctx, s.addr, []expect{want}, interval, t0.Add(10*time.Second), s.srv.Exited())
				lat[j], errs[j] = at.Sub(t0), err
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		for j, s := range servers {
			r := res[s.kind.name]
			if errs[j] != nil {
				r.missed++
				logf("  %s: change %d (%s): %v", s.kind.name, i, kindName, errs[j])
				continue
			}
			r.all = append(r.all, lat[j])
			r.byKind[kindName] = append(r.byKind[kindName], lat[j])
		}
		if (i+1)%60 == 0 {
			logf("  %d/%d changes (%s)", i+1, n, time.Since(start).Round(time.Second))
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return nil, err
		}
	}
	// Leave no half-finished cycle behind.
	if st.svc != nil {
		_ = c.CoreV1().Services(ns).Delete(ctx, st.svc.Name, metav1.DeleteOptions{})
	}
	if st.slice != nil {
		_ = c.DiscoveryV1().EndpointSlices(ns).Delete(ctx, st.slice.Name, metav1.DeleteOptions{})
	}
	return res, nil
}

// progState is what the programming-latency changes write next to.
type progState struct {
	svc   *corev1.Service
	slice *discoveryv1.EndpointSlice
}

// change makes change i (of kind changeKinds[i mod 6]) and returns the
// answer that shows it.
func (st *progState) change(ctx context.Context, c kubernetes.Interface, hl service, i int) (expect, error) {
	ns := hl.ns
	var err error // set by the writes below
	cycle := i / len(changeKinds)
	kindName := changeKinds[i%len(changeKinds)]
	svcName := fmt.Sprintf("prog-%04d", cycle)
	svcFQDN := fmt.Sprintf("%s.%s.svc.%s.", svcName, ns, zone)
	sliceIPs := func(last int) []string {
		return []string{fmt.Sprintf("10.250.%d.1", cycle%250), fmt.Sprintf("10.250.%d.2", cycle%250), fmt.Sprintf("10.250.%d.%d", cycle%250, last)}
	}
	var want expect
	var write func() error
	switch kindName {
	case "svc-create":
		write = func() error {
			st.svc, err = c.CoreV1().Services(ns).Create(ctx, svcObject(service{ns: ns, name: svcName}), metav1.CreateOptions{})
			if err == nil {
				want = expectA(svcFQDN, []string{st.svc.Spec.ClusterIP})
			}
			return err
		}
	case "svc-update": // a new named port: its SRV name appears
		write = func() error {
			st.svc.Spec.Ports = append(st.svc.Spec.Ports, corev1.ServicePort{Name: "extra", Port: 81, Protocol: corev1.ProtocolTCP})
			st.svc, err = c.CoreV1().Services(ns).Update(ctx, st.svc, metav1.UpdateOptions{})
			want = expect{name: "_extra._tcp." + svcFQDN, qtype: dns.TypeSRV, want: []string{"81 " + svcFQDN}}
			return err
		}
	case "svc-delete":
		write = func() error {
			want = expectNone(svcFQDN, dns.TypeA)
			return c.CoreV1().Services(ns).Delete(ctx, svcName, metav1.DeleteOptions{})
		}
	case "slice-create":
		write = func() error {
			ips := sliceIPs(3)
			st.slice, err = c.DiscoveryV1().EndpointSlices(ns).Create(ctx, sliceObject(ns, fmt.Sprintf("%s-%04d", hl.name, cycle), hl.name, true, ips), metav1.CreateOptions{})
			want = expectA(hl.fqdn(), ips)
			return err
		}
	case "slice-update": // one endpoint's address changes
		write = func() error {
			ips := sliceIPs(4)
			st.slice.Endpoints[2].Addresses = []string{ips[2]}
			st.slice, err = c.DiscoveryV1().EndpointSlices(ns).Update(ctx, st.slice, metav1.UpdateOptions{})
			want = expectA(hl.fqdn(), ips)
			return err
		}
	case "slice-delete":
		write = func() error {
			want = expectNone(hl.fqdn(), dns.TypeA)
			return c.DiscoveryV1().EndpointSlices(ns).Delete(ctx, st.slice.Name, metav1.DeleteOptions{})
		}
	}
	// want is set by write: call it first.
	if err := write(); err != nil {
		return expect{}, err
	}
	return want, nil
}

// progSwapAt is the change before which progPhase calls midway: the first
// of the cycle that starts the second half; -1 (never) below two cycles.
func progSwapAt(n int) int {
	if at := n / 2 / len(changeKinds) * len(changeKinds); at > 0 {
		return at
	}
	return -1
}
