package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// latencyUnderChurn runs -latency-flips flips in two batches and meanwhile creates
// services one at a time, timing each until both servers answer it.
// Between the batches the API server takes the servers' watches again in
// the other order (swapWatchOrder), so that the creates of one batch are
// timed in each. With cpus, each server's threads run on CPUs of its own,
// swapped between the batches, and on every CPU again after.
func (b *bench) latencyUnderChurn(pair []*running, set *latencySet, cpus *cpuHalves) error {
	set.underChurn, set.missedUnder, set.pollEvery = map[string][]time.Duration{}, map[string]int{}, b.c.pollEvery
	set.pastProxy, set.unspotted = map[string][]time.Duration{}, map[string]int{}
	ns, prefix := nsName(1%b.c.namespaces), "churn"
	if cpus != nil {
		prefix = "pinned" // apart from the names just deleted, whose events may still be on their way
	}
	var created []string
	defer func() {
		for _, name := range created {
			_ = b.client.CoreV1().Services(ns).Delete(context.WithoutCancel(b.ctx), name, metav1.DeleteOptions{})
		}
	}()
	if cpus != nil {
		defer func() {
			if err := cpus.release(pair); err != nil {
				b.logf("  letting the servers on every CPU again: %v", err)
			}
		}()
	}
	order := b.watchOrder     // the first batch's
	split := map[string]int{} // where each server's latencies of the second batch start
	pairedSplit := 0          // where the second batch's pairs start
	n := b.latencyFlips()
	for batch, flips := range [2]int{n / 2, n - n/2} {
		if batch == 1 {
			for _, r := range pair {
				split[r.kind.name] = len(set.underChurn[r.kind.name])
			}
			pairedSplit = len(set.pairedUnder)
			if err := b.swapWatchOrder(); err != nil {
				return err
			}
		}
		if cpus != nil {
			if err := cpus.pin(pair, batch == 1); err != nil {
				return err
			}
			if err := sleep(b.ctx, pinSettle); err != nil {
				return err
			}
		}
		if err := b.createsDuringFlips(pair, ns, prefix, flips, &created, set); err != nil {
			return err
		}
	}
	if _, err := b.waitAll(pair, b.big.expect(), 5*time.Millisecond, time.Minute); err != nil {
		return err
	}
	for j, r := range pair {
		all := set.underChurn[r.kind.name]
		p50, _ := percentile(all, 50)
		p99, _ := percentile(all, 99)
		first, second := all[:split[r.kind.name]], all[split[r.kind.name]:]
		h1, _ := percentile(first, 50)
		h2, _ := percentile(second, 50)
		b.logf("  %-8s %d services created during the flips: p50 %s p99 %s, missed %d; registered %s: p50 %s (%d), %s: p50 %s (%d)",
			r.kind.name, len(all), fmtDur(p50), fmtDur(p99), set.missedUnder[r.kind.name],
			registeredFirst(order, j), fmtDur(h1), len(first), registeredFirst(order, 1-j), fmtDur(h2), len(second))
	}
	for batch, pairs := range [2][]latencyPair{set.pairedUnder[:pairedSplit], set.pairedUnder[pairedSplit:]} {
		k := slices.IndexFunc(pair, func(r *running) bool { return r.kind.name != "stock" })
		if batch == 1 {
			k = 1 - k
		}
		b.logf("  kubesvc registered %s: %s", registeredFirst(order, k), comparePairs(pairs, b.c.pollEvery))
	}
	b.logPastProxy(pair, set)
	return nil
}

// pinnedLatency is churn (d): latencyUnderChurn again with the servers on
// CPUs apart, into set.pinned; skipped, and said so, where they cannot be.
func (b *bench) pinnedLatency(pair []*running, set *churnSet) error {
	cpus, err := cpusApart()
	if err != nil {
		b.logf("churn (d) skipped: %v", err)
		return nil
	}
	b.logf("churn (d): the same, each server's threads on CPUs of its own (%s), swapped between the halves", cpus)
	set.pinned = &latencySet{}
	return b.latencyUnderChurn(pair, set.pinned, &cpus)
}

// createsDuringFlips runs flips flips and meanwhile creates services one at
// a time (noted in created; named prefix-<count>-<phase>), timing each
// (createTimed).
func (b *bench) createsDuringFlips(pair []*running, ns, prefix string, flips int, created *[]string, set *latencySet) error {
	done := make(chan error, 1)
	go func() { done <- b.flips(flips) }()
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		name := fmt.Sprintf("%s-%04d-%d", prefix, len(*created), len(b.res.churn))
		if err := b.createTimed(pair, ns, name, set); err != nil {
			<-done
			return err
		}
		*created = append(*created, name)
		if err := sleep(b.ctx, 10*time.Millisecond); err != nil {
			<-done
			return err
		}
	}
}

// createTimed creates service ns/name and times it until both servers
// answer it (set.underChurn), or counts it missed after 10 s; and from when
// each server's proxy passed on its event (set.pastProxy, arrival.go).
func (b *bench) createTimed(pair []*running, ns, name string, set *latencySet) error {
	for _, p := range b.px {
		p.seen.expect(name)
	}
	svc, err := b.client.CoreV1().Services(ns).Create(b.ctx, svcObject(service{ns: ns, name: name}), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create %s/%s: %w", ns, name, err)
	}
	want := expectA(service{ns: ns, name: name}.fqdn(), []string{svc.Spec.ClusterIP})
	start := time.Now()
	at, _ := b.answeredAt(pair, want, b.c.pollEvery, start.Add(10*time.Second))
	var both, past latencyPair
	answered, spotted := 0, 0
	for j, r := range pair {
		k := 0 // kubesvc's place in a latencyPair and in b.px
		if r.kind.name == "stock" {
			k = 1
		}
		arrived, ok := b.px[k].seen.take(name)
		if at[j].IsZero() {
			set.missedUnder[r.kind.name]++
			continue
		}
		lat := at[j].Sub(start)
		set.underChurn[r.kind.name] = append(set.underChurn[r.kind.name], lat)
		both[k] = lat
		answered++
		if !ok {
			set.unspotted[r.kind.name]++
			continue
		}
		past[k] = at[j].Sub(arrived)
		set.pastProxy[r.kind.name] = append(set.pastProxy[r.kind.name], past[k])
		spotted++
	}
	if answered == 2 {
		set.pairedUnder = append(set.pairedUnder, both)
	}
	if spotted == 2 {
		set.pairedPast = append(set.pairedPast, past)
	}
	return nil
}

// logPastProxy logs each server's own part of the latencies under the
// flips: from its proxy's passing on the event to its first correct answer.
func (b *bench) logPastProxy(pair []*running, set *latencySet) {
	for _, r := range pair {
		own := set.pastProxy[r.kind.name]
		p50, _ := percentile(own, 50)
		p99, _ := percentile(own, 99)
		b.logf("  %-8s past its proxy (the event passed on -> first correct answer): p50 %s p99 %s over %d creates, %d not seen in its watch",
			r.kind.name, fmtDur(p50), fmtDur(p99), len(own), set.unspotted[r.kind.name])
	}
	b.logf("  past the proxies: %s", comparePairs(set.pairedPast, b.c.pollEvery))
}

// registeredFirst says whether server j of the pair has its watches
// registered first, by order, or second.
func registeredFirst(order [2]int, j int) string {
	if order[0] == j {
		return "first"
	}
	return "second"
}
