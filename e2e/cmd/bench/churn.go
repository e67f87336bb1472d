package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// The churn phases: EndpointSlices change all day in a real cluster. Each is
// measured on kubesvc and stock at once, both watching the same API server,
// so both see the same events; the CPU time each process used (procCPU) is
// divided by the number of changes.

// The big headless service: 1,000 endpoints in 10 slices, as the
// EndpointSlice controller splits them (at most 100 per slice).
const bigEndpoints, bigSlices = 1000, 10

// bigHeadless is a headless service whose endpoints' readiness the bench
// flips.
type bigHeadless struct {
	ns, name string
	ips      []string
	ready    []bool
	perSlice int
}

func newBigHeadless(ns, name string, n, nSlices int, d *dataset) *bigHeadless {
	h := &bigHeadless{ns: ns, name: name, perSlice: (n + nSlices - 1) / nSlices}
	for range n {
		h.ips = append(h.ips, d.newPod())
		h.ready = append(h.ready, true)
	}
	return h
}

func (h *bigHeadless) sliceName(k int) string { return fmt.Sprintf("%s-%02d", h.name, k) }

// service is the service as the answers must show it: its ready endpoints.
func (h *bigHeadless) service() service {
	s := service{ns: h.ns, name: h.name, headless: true}
	for i, ip := range h.ips {
		if h.ready[i] {
			s.ips = append(s.ips, ip)
		}
	}
	sort.Strings(s.ips)
	return s
}

func (h *bigHeadless) expect() expect {
	s := h.service()
	return expectA(s.fqdn(), s.ips)
}

func (h *bigHeadless) create(ctx context.Context, c kubernetes.Interface) error {
	if _, err := c.CoreV1().Services(h.ns).Create(ctx, svcObject(service{ns: h.ns, name: h.name, headless: true}), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create service %s/%s: %w", h.ns, h.name, err)
	}
	for k := 0; k*h.perSlice < len(h.ips); k++ {
		ips := h.ips[k*h.perSlice : min((k+1)*h.perSlice, len(h.ips))]
		if _, err := c.DiscoveryV1().EndpointSlices(h.ns).Create(ctx, sliceObject(h.ns, h.sliceName(k), h.name, true, ips), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create endpointslice %s/%s: %w", h.ns, h.sliceName(k), err)
		}
	}
	return nil
}

// flip turns endpoint i not ready if it is ready and back, as the
// EndpointSlice controller does when a pod's readiness probe changes.
func (h *bigHeadless) flip(ctx context.Context, c kubernetes.Interface, i int) error {
	to := !h.ready[i]
	j := i % h.perSlice
	patch := fmt.Sprintf(`[{"op":"replace","path":"/endpoints/%d/conditions/ready","value":%t},`+
		`{"op":"replace","path":"/endpoints/%d/conditions/serving","value":%t}]`, j, to, j, to)
	name := h.sliceName(i / h.perSlice)
	if _, err := c.DiscoveryV1().EndpointSlices(h.ns).Patch(ctx, name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("flip %s/%s endpoint %d: %w", h.ns, name, j, err)
	}
	h.ready[i] = to
	return nil
}

// churnSet is the churn phases' results at one cluster size.
type churnSet struct {
	n            int
	flips, moves int
	flipCPU      map[string]time.Duration // CPU time per flip
	moveCPU      map[string]time.Duration // CPU time per move
	soa          map[string]soaCheck      // the SOA serial during soaMoves more moves
	soaMoves     int
	latencySet               // the creates timed during the flips
	pinned       *latencySet // again, each server on CPUs of its own (pin.go); nil if not run
}

// latencySet is the programming latency of services created one at a time
// during the flips.
type latencySet struct {
	underChurn  map[string][]time.Duration
	missedUnder map[string]int
	pairedUnder []latencyPair // the creates both answered, in order
	// pastProxy are the latencies from each server's proxy passing the
	// create's event on (arrival.go); unspotted counts the creates answered
	// whose event the proxy did not see go by.
	pastProxy  map[string][]time.Duration
	unspotted  map[string]int
	pairedPast []latencyPair
	pollEvery  time.Duration // how often the creates were polled
}

// soaCheck is what the SOA serial did while answers did not change.
type soaCheck struct {
	before, last uint32
	moved        bool
	polls        int
}

// churnPhase measures CPU per flip, CPU per move (and the SOA serial) and
// the programming latency of services created while flips run.
func (b *bench) churnPhase(pair []*running) error {
	set := churnSet{n: len(b.d.svcs), flipCPU: map[string]time.Duration{}, moveCPU: map[string]time.Duration{}}
	if b.c.flips > 0 {
		set.flips = b.c.flips
		b.logf("churn (a): %d readiness flips in %s (%d endpoints, %d slices) at %.0f/s, kubesvc and stock watching",
			b.c.flips, b.big.name, len(b.big.ips), bigSlices, b.c.churnRate)
		var err error
		set.flipCPU, err = b.cpuPer(pair, b.c.flips, func() error { return b.flips(b.c.flips) }, b.big.expect)
		if err != nil {
			return err
		}
		b.logCPU("flip", set.flipCPU)
	}
	if b.c.moves > 0 {
		set.moves = b.c.moves
		b.logf("churn (b): %d endpoint moves behind ClusterIP services at %.0f/s (no answer changes), SOA serial polled", b.c.moves, b.c.churnRate)
		if err := b.movePhase(pair, &set); err != nil {
			return err
		}
	}
	if b.latencyFlips() > 0 {
		b.logf("churn (c): programming latency of services created while %d flips run", b.latencyFlips())
		if err := b.latencyUnderChurn(pair, &set.latencySet, nil); err != nil {
			return err
		}
		if b.c.pin {
			if err := b.pinnedLatency(pair, &set); err != nil {
				return err
			}
		}
	}
	b.res.churn = append(b.res.churn, set)
	b.gb.churn(set)
	if b.c.pairsOut != "" { // now, lest a later phase's failure lose the run's creates
		if err := writePairs(b.c.pairsOut, b.res.churn); err != nil {
			return fmt.Errorf("-pairs-out: %w", err)
		}
	}
	return nil
}

// latencyFlips is how many flips churn (c) times creates under.
func (b *bench) latencyFlips() int { return b.c.flipsUnderCreates() }

func (b *bench) logCPU(what string, m map[string]time.Duration) {
	ks, st := m["kubesvc"], m["stock"]
	b.logf("  CPU per %s: kubesvc %s, stock %s (kubesvc/stock %s)", what, fmtCPU(ks), fmtCPU(st), ratio(float64(ks), float64(st), true, true))
}

func fmtCPU(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/1e3) }

// paced calls f(0..n-1) at rate calls per second.
func (b *bench) paced(n int, f func(i int) error) error {
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(float64(i) / b.c.churnRate * float64(time.Second)))
		if err := sleep(b.ctx, time.Until(at)); err != nil {
			return err
		}
		if err := f(i); err != nil {
			return err
		}
	}
	return nil
}

// flips flips n endpoints of the big service, striding over its slices.
func (b *bench) flips(n int) error {
	return b.paced(n, func(i int) error {
		return b.big.flip(b.ctx, b.client, i*37%len(b.big.ips)) // 37: coprime with 1,000
	})
}

// cpuNow is each server's CPU time so far.
func cpuNow(pair []*running) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, r := range pair {
		t, err := procCPU(r.srv.Pid())
		if err != nil {
			return nil, err
		}
		out[r.kind.name] = t
	}
	return out, nil
}

// idleSeconds is the number of one-second samples of idle CPU.
const idleSeconds = 5

// idleCPU is what each server uses idle in a second: the median of
// idleSeconds one-second samples, so that one sporadic burst (the Go
// runtime forces a garbage collection every two minutes, a few hundred
// milliseconds of CPU on stock's heap at 100,000 services) does not count
// as everyday idle.
func (b *bench) idleCPU(pair []*running) (map[string]time.Duration, error) {
	samples := map[string][]time.Duration{}
	prev, err := cpuNow(pair)
	if err != nil {
		return nil, err
	}
	for range idleSeconds {
		t0 := time.Now()
		if err := sleep(b.ctx, time.Second); err != nil {
			return nil, err
		}
		now, err := cpuNow(pair)
		if err != nil {
			return nil, err
		}
		for k, t := range now {
			samples[k] = append(samples[k], time.Duration(float64(t-prev[k])*float64(time.Second)/float64(time.Since(t0))))
		}
		prev = now
	}
	out := map[string]time.Duration{}
	for k, s := range samples {
		out[k], _ = median(s)
	}
	return out, nil
}

// cpuPer runs changes, waits until every server of pair answers final(),
// and returns each server's CPU time over that span, less what it uses
// idle over as long (idleCPU, measured just before), divided by n. It logs
// the heap each allocated a change too: a server whose heap is large may
// not collect within the span at all, and pay for its garbage later.
func (b *bench) cpuPer(pair []*running, n int, changes func() error, final func() expect) (map[string]time.Duration, error) {
	idleRate, err := b.idleCPU(pair)
	if err != nil {
		return nil, err
	}
	allocBefore, err := allocatedNow(pair) // outside the CPU's span: a scrape costs CPU too
	if err != nil {
		return nil, err
	}
	before, err := cpuNow(pair)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	if err := changes(); err != nil {
		return nil, err
	}
	if _, err := b.waitAll(pair, final(), 5*time.Millisecond, time.Minute); err != nil {
		return nil, err
	}
	after, err := cpuNow(pair)
	if err != nil {
		return nil, err
	}
	span := time.Since(t1)
	allocAfter, err := allocatedNow(pair)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Duration{}
	for _, r := range pair {
		k := r.kind.name
		idle := time.Duration(float64(idleRate[k]) * span.Seconds())
		out[k] = (after[k] - before[k] - idle) / time.Duration(n)
		b.logf("  %-8s CPU %s over %s of changes, less %s idle (%s per second idle, median of %d s); heap allocated %.1f KB a change",
			k, fmtDur(after[k]-before[k]), fmtDur(span), fmtDur(idle), fmtDur(idleRate[k]), idleSeconds,
			(allocAfter[k]-allocBefore[k])/1024/float64(n))
	}
	return out, nil
}

// allocatedNow is each server's bytes allocated so far, by kind.
func allocatedNow(pair []*running) (map[string]float64, error) {
	out := map[string]float64{}
	for _, r := range pair {
		v, err := allocated(r)
		if err != nil {
			return nil, err
		}
		out[r.kind.name] = v
	}
	return out, nil
}

// waitAll waits, for every server at once, until it answers want, and
// returns how long each took (0 for one that did not in time).
func (b *bench) waitAll(pair []*running, want expect, every, timeout time.Duration) ([]time.Duration, error) {
	t0 := time.Now()
	at, err := b.answeredAt(pair, want, every, t0.Add(timeout))
	lat := make([]time.Duration, len(pair))
	for j := range at {
		if !at[j].IsZero() {
			lat[j] = at[j].Sub(t0)
		}
	}
	return lat, err
}

// answeredAt waits, for every server at once, until it answers want, and
// returns when each first did (zero for one that did not by deadline).
func (b *bench) answeredAt(pair []*running, want expect, every time.Duration, deadline time.Time) ([]time.Time, error) {
	at := make([]time.Time, len(pair))
	errs := make([]error, len(pair))
	var wg sync.WaitGroup
	for j, r := range pair {
		wg.Go(func() {
			at[j], errs[j] = waitCorrect(b.ctx, r.addr, []expect{want}, every, deadline, r.srv.Exited())
			if errs[j] != nil {
				errs[j] = fmt.Errorf("%s: %w", r.kind.name, errs[j])
			}
		})
	}
	wg.Wait()
	return at, firstErr(errs)
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// soaSerial is the zone's SOA serial as the server on p answers it.
func soaSerial(p *prober) (uint32, error) {
	r, err := p.ask(expect{name: zone + ".", qtype: dns.TypeSOA})
	if err != nil {
		return 0, err
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("no SOA in the answer (%s)", brief(r, nil))
}

// clusterIPServices are the seeded ClusterIP services, in creation order.
func (b *bench) clusterIPServices() []*service {
	var out []*service
	for i := range b.d.svcs {
		if !b.d.svcs[i].headless {
			out = append(out, &b.d.svcs[i])
		}
	}
	return slices.Clip(out)
}
