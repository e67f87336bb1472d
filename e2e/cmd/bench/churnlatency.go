package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// latencyUnderChurn runs -flips flips and meanwhile creates services one at
// a time, timing each until both servers answer it. Halfway through the
// flips the API server takes the servers' watches again in the other order
// (swapWatchOrder), so that half the creates are timed in each.
func (b *bench) latencyUnderChurn(pair []*running, set *churnSet) error {
	set.underChurn, set.missedUnder = map[string][]time.Duration{}, map[string]int{}
	ns := nsName(1 % b.c.namespaces)
	var created []string
	defer func() {
		for _, name := range created {
			_ = b.client.CoreV1().Services(ns).Delete(context.WithoutCancel(b.ctx), name, metav1.DeleteOptions{})
		}
	}()
	done := make(chan error, 1)
	t0 := time.Now()
	half := time.Duration(float64(b.c.flips) / b.c.churnRate / 2 * float64(time.Second))
	go func() { done <- b.flips(b.c.flips) }()
	var flipErr error
	order := b.watchOrder     // the order of the first half
	split := map[string]int{} // where each server's latencies of the second half start
	for running, swapped := true, false; running; {
		select {
		case flipErr = <-done:
			running = false
			continue
		default:
		}
		if !swapped && time.Since(t0) >= half {
			if err := b.swapWatchOrder(); err != nil {
				<-done
				return err
			}
			swapped = true
			for _, r := range pair {
				split[r.kind.name] = len(set.underChurn[r.kind.name])
			}
		}
		name := fmt.Sprintf("churn-%04d-%d", len(created), len(b.res.churn))
		if err := b.createTimed(pair, ns, name, set); err != nil {
			<-done
			return err
		}
		created = append(created, name)
		if err := sleep(b.ctx, 10*time.Millisecond); err != nil {
			<-done
			return err
		}
	}
	if flipErr != nil {
		return flipErr
	}
	set.createdUnder, set.flipsUnder, set.flipsUnderTook = len(created), b.c.flips, time.Since(t0)
	if _, err := b.waitAll(pair, b.big.expect(), 5*time.Millisecond, time.Minute); err != nil {
		return err
	}
	for j, r := range pair {
		all := set.underChurn[r.kind.name]
		p50, _ := percentile(all, 50)
		p99, _ := percentile(all, 99)
		h1, _ := percentile(all[:split[r.kind.name]], 50)
		h2, _ := percentile(all[split[r.kind.name]:], 50)
		b.logf("  %-8s %d services created during the flips: p50 %s p99 %s, missed %d; p50 %s with its watches registered %s, %s %s",
			r.kind.name, len(all), fmtDur(p50), fmtDur(p99), set.missedUnder[r.kind.name],
			fmtDur(h1), registeredFirst(order, j), fmtDur(h2), registeredFirst(order, 1-j))
	}
	return nil
}

// createTimed creates service ns/name and times it until both servers
// answer it (set.underChurn), or counts it missed after 10 s.
func (b *bench) createTimed(pair []*running, ns, name string, set *churnSet) error {
	svc, err := b.client.CoreV1().Services(ns).Create(b.ctx, svcObject(service{ns: ns, name: name}), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create %s/%s: %w", ns, name, err)
	}
	want := expectA(service{ns: ns, name: name}.fqdn(), []string{svc.Spec.ClusterIP})
	lat, _ := b.waitAll(pair, want, b.c.pollEvery, 10*time.Second)
	for j, r := range pair {
		if lat[j] <= 0 {
			set.missedUnder[r.kind.name]++
			continue
		}
		set.underChurn[r.kind.name] = append(set.underChurn[r.kind.name], lat[j])
	}
	return nil
}

// registeredFirst says whether server j of the pair has its watches
// registered first, by order.
func registeredFirst(order [2]int, j int) string {
	if order[0] == j {
		return "first"
	}
	return "second"
}
