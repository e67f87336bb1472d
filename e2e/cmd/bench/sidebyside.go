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
// The order matters under load. The API server's watch cache hands an
// event to a resource's watchers in the iteration order of a small Go map
// (cacher.go, indexedWatchers): it is iterated from a random one of its 8
// slots, and a new watcher takes the lowest free slot, so of two watchers
// the one in the lower slot (registered first, unless a later one took a
// freed lower slot) comes first 7 times in 8. Each watcher's goroutine
// then wakes its handler's, and the goroutine woken last runs first (the
// Go scheduler's runnext): in execution traces of the API server while
// the flips ran, the handler of the later-registered watch of Services
// sent a created service's event first 144 times in 194, about a quarter
// of a millisecond ahead.
//
// So every watch of both servers is ended (drop) and their new watches
// held until the API server has let go of every old one (its count of
// watches served falls by as many): a new watcher would take a freed
// slot, its own or the other server's. Then the second-registered
// server's watches go through, and once the API server has taken them, the
// other's.
func (b *bench) swapWatchOrder() error {
	before, err := b.watchesServed()
	if err != nil {
		return err
	}
	ended := 0
	for _, p := range b.px {
		ended += p.drop()
	}
	defer func() {
		for _, p := range b.px {
			p.release()
		}
	}()
	if err := b.pollUntil("the API server to let go of the watches ended", time.Minute, func() (bool, error) {
		n, err := b.watchesServed()
		return n <= before-float64(ended), err
	}); err != nil {
		return err
	}
	for _, i := range []int{b.watchOrder[1], b.watchOrder[0]} {
		b.px[i].release()
		if err := b.waitWatching(b.px[i]); err != nil {
			return err
		}
	}
	b.px.settle()
	b.watchOrder = [2]int{b.watchOrder[1], b.watchOrder[0]}
	return sleep(b.ctx, time.Second) // what the watches missed while ended is delivered
}

// waitWatching waits until every watch p cut is back.
func (b *bench) waitWatching(p *relistProxy) error {
	err := b.pollUntil("the watches cut to reorder them", time.Minute, func() (bool, error) { return p.watchingAgain(), nil })
	if err != nil {
		return fmt.Errorf("%w: %s", err, p.progress())
	}
	return nil
}

// pollUntil calls done every 10 ms until it reports true, fails, or timeout
// passes (an error naming what it waited for).
func (b *bench) pollUntil(what string, timeout time.Duration, done func() (bool, error)) error {
	for t0 := time.Now(); ; {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		if time.Since(t0) > timeout {
			return fmt.Errorf("waited %s for %s", timeout, what)
		}
		if err := sleep(b.ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
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
