package main

import "time"

// startPair starts the given servers (kubesvc and stock through the proxy)
// and waits until each answers the probes.
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
	return pair, nil
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
		if b.res.prog, err = progPhase(b.ctx, b.client, pair, b.c.changes, b.c.pollEvery, b.logf); err != nil {
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
