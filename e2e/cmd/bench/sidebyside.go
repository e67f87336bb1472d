package main

import (
	"fmt"
	"time"
)

// startPair starts the given servers (kubesvc and stock, each through its
// proxy) one after the other, and waits until each answers the probes: the
// API server has their watches in that order (watchOrder).
func (b *bench) startPair(kinds ...*kind) ([]*running, error) {
	var pair []*running
	for _, k := range kinds {
		r, _, err := b.f.start(b.ctx, k, b.probes(), 3*time.Minute)
		if err != nil {
			b.stopAll(pair)
			return nil, err
		}
		pair = append(pair, r)
	}
	b.watchOrder = [2]int{0, 1}
	return pair, nil
}

// swapWatchOrder has the API server take the side-by-side servers' watches
// again, in the order opposite to the one it has them in (b.watchOrder:
// indexes of the pair and of b.px, the first-registered first).
//
// The order matters under load. In execution traces of the API server
// while the flips ran, the handler of the watch registered last sent a
// created service's event first about 3 times in 4, about a quarter of a
// millisecond ahead: the watch cache hands an event to a resource's
// watchers in its map's iteration order (a map of up to 8 is iterated from
// a random one of its 8 slots, which watchers fill in turn, so the first
// slot comes first 6 times in 8) and the goroutine woken last runs first
// (the Go scheduler's runnext). So the latency phases measure half their
// changes in each order.
func (b *bench) swapWatchOrder() error {
	first, last := b.px[b.watchOrder[0]], b.px[b.watchOrder[1]]
	first.drop(true) // its new watches wait
	defer first.release()
	last.drop(false)
	if err := b.waitWatching(last); err != nil {
		return err
	}
	first.release()
	if err := b.waitWatching(first); err != nil {
		return err
	}
	b.px.settle()
	b.watchOrder = [2]int{b.watchOrder[1], b.watchOrder[0]}
	return sleep(b.ctx, time.Second) // what the watches missed while cut is delivered
}

// waitWatching waits until every watch p cut is back.
func (b *bench) waitWatching(p *relistProxy) error {
	for t0 := time.Now(); !p.watchingAgain(); {
		if time.Since(t0) > time.Minute {
			return fmt.Errorf("watches cut to reorder them, not back after a minute: %s", p.progress())
		}
		if err := sleep(b.ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) stopAll(rs []*running) {
	for _, r := range rs {
		b.f.stop(r)
	}
}

// sideBySide runs kubesvc and stock at once, watching through the proxy:
// heap after sync, programming latency, the churn phases and the relist.
func (b *bench) sideBySide() error {
	pair, err := b.startPair(b.pks, b.pst)
	if err != nil {
		return err
	}
	defer b.stopAll(pair)
	if err := sleep(b.ctx, b.c.settle); err != nil {
		return err
	}
	b.res.heap = map[string][2]int64{}
	for _, r := range pair {
		alloc, inuse, err := heapKB(r)
		if err != nil {
			return err
		}
		b.res.heap[r.kind.name] = [2]int64{alloc, inuse}
		b.gb.add("HeapAfterSync", "server="+r.kind.name, 1, float64(alloc*1024), "heap-B", float64(inuse*1024), "heap-inuse-B")
	}
	if b.c.changes > 0 {
		b.logf("DNS programming latency: %d changes, kubesvc and stock watching at once, polled every %s", b.c.changes, b.c.pollEvery)
		if b.res.prog, err = progPhase(b.ctx, b.client, pair, b.c.changes, b.c.pollEvery, b.swapWatchOrder, b.logf); err != nil {
			return err
		}
		b.gb.prog("Prog", b.res.prog)
	}
	if err := b.churnPhase(pair); err != nil {
		return err
	}
	if b.c.relist {
		return b.relistPhase(pair)
	}
	return nil
}

// largePhase grows the cluster to -first-answer-services under a fresh
// kubesvc and stock (a second, larger measure of the memory an added
// service costs), then times cold starts, the churn phases and the relist
// there.
func (b *bench) largePhase() error {
	if b.c.firstAnswerN <= len(b.d.svcs) {
		return nil
	}
	more := b.c.firstAnswerN - len(b.d.svcs)
	via := "through the API"
	if b.c.viaEtcd(more) {
		via = "straight into etcd"
	}
	b.logf("growing to %d services (+%d, %s) under a fresh kubesvc and stock", b.c.firstAnswerN, more, via)
	if err := b.growth(more, b.c.viaEtcd(more)); err != nil {
		return err
	}
	if err := b.coldPhase(5 * time.Minute); err != nil {
		return err
	}
	pair, err := b.startPair(b.pks, b.pst)
	if err != nil {
		return err
	}
	defer b.stopAll(pair)
	if err := sleep(b.ctx, b.c.settle); err != nil { // as at the first size: not straight after sync
		return err
	}
	if err := b.churnPhase(pair); err != nil {
		return err
	}
	if b.c.relist {
		return b.relistPhase(pair)
	}
	return nil
}
